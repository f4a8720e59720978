//! `attachd migrate`: copies a stopped local deployment into a `postgres_s3` one — the control
//! plane, then every record with its bytes — so its clients carry on against the replicas
//! with the same keys, tokens, ids and download URLs.
//!
//! Order per record, as everywhere: the bytes are written to the object store and verified
//! against the record's SHA-256 first, then the record is imported (with its rows and
//! counters) in one PostgreSQL transaction. A record already in the target is skipped, so an
//! interrupted migration is finished by running it again; an object written for a record whose
//! import never happened is an orphan the target's cleanup removes.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::{DaemonError, local_config, lock_data_dir};
use crate::config::{BackendKind, Config};
use crate::engine::{Access, BodyPlan, Opened};
use crate::local::LocalBackend;
use crate::postgres_s3::PgS3Backend;

/// What a migration did.
#[derive(Debug, Default, Serialize)]
pub struct MigrateReport {
    /// Control-plane entries copied (teams, projects, apps, keys, tokens, …).
    pub control_entries: usize,
    /// Records read from the source.
    pub records: u64,
    /// Records written to the target.
    pub imported: u64,
    /// Records the target already held (an earlier run).
    pub skipped: u64,
    /// Objects written.
    pub objects: u64,
    /// Bytes written to the object store.
    pub bytes: u64,
}

/// Records read per page.
const PAGE: usize = 500;
/// Bytes read from the source per call.
const CHUNK: usize = 1 << 20;

fn other(what: &str, e: impl std::fmt::Display) -> DaemonError {
    DaemonError::Other(format!("{what}: {e}"))
}

/// Migrates the local deployment `from` into the `postgres_s3` deployment `to` (see the module
/// docs). The local daemon must be stopped (its data directory is locked meanwhile).
pub fn local_to_postgres_s3(from: &Config, to: &Config) -> Result<MigrateReport, DaemonError> {
    if from.backend.kind != BackendKind::Local {
        return Err(DaemonError::Other("--from must be a local deployment's configuration".into()));
    }
    if to.backend.kind != BackendKind::PostgresS3 {
        return Err(DaemonError::Other("--to must set backend.kind = \"postgres_s3\"".into()));
    }
    let _lock = lock_data_dir(&from.storage.data_dir)?;
    let local = LocalBackend::open(local_config(from), None, None)?;
    let src = local.parts();
    let target = PgS3Backend::open(&to.backend.postgres_s3()).map_err(|e| other("open the target", e))?;
    let dst = target.catalog();
    let blobs = target.blobs();
    let mut report = MigrateReport::default();

    let changes = src.catalog.export_control().map_err(|e| other("export the control plane", e))?;
    report.control_entries = changes.len();
    dst.apply_control(changes).map_err(|e| other("write the control plane", e))?;
    tracing::info!(entries = report.control_entries, "control plane copied");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| other("runtime", e))?;
    let mut after = None;
    loop {
        let page = src.catalog.records_after(after, PAGE).map_err(|e| other("read records", e))?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for rec in page {
            report.records += 1;
            if dst.record(rec.id).map_err(|e| other("read the target", e))?.is_some() {
                report.skipped += 1;
                continue;
            }
            let mut moved = rec.clone();
            if rec.location.is_some() {
                let (s, b) = (src.blobs.clone(), blobs.clone());
                let r = rec.clone();
                let (location, len) = rt.block_on(async move { copy(&*s, &b, &r).await })?;
                moved.location = Some(location);
                report.objects += 1;
                report.bytes += len;
            }
            dst.import(&moved).map_err(|e| other("import a record", e))?;
            report.imported += 1;
        }
        tracing::info!(records = report.records, imported = report.imported, "migrating");
    }
    crate::engine::Housekeeping::close(&*local);
    Ok(report)
}

/// Streams one record's bytes from the local store into the object store; returns where they
/// went and how many there were.
async fn copy(
    src: &dyn crate::engine::BlobStore,
    dst: &Arc<crate::postgres_s3::S3Blobs>,
    rec: &crate::model::Attachment,
) -> Result<(crate::model::Location, u64), DaemonError> {
    let opened = src.open(rec, Access::Bytes).await.map_err(|e| other(&format!("open {}", rec.id), e))?;
    let mut sink = crate::engine::BlobStore::stage(&**dst, rec, BodyPlan::exactly(rec.size_bytes))
        .await
        .map_err(|e| other("stage", e))?;
    match opened {
        Opened::Whole(read) => {
            let bytes = tokio::task::spawn_blocking(read).await.map_err(|e| other("read", e))?;
            sink.write(bytes.map_err(|e| other(&format!("read {}", rec.id), e))?)
                .await
                .map_err(|e| other("write", e))?;
        }
        Opened::Stream(reader, _) => {
            let reader: Arc<dyn crate::engine::RangeRead> = Arc::from(reader);
            let mut at = 0u64;
            while at < reader.len() {
                let r = reader.clone();
                let chunk: Bytes = tokio::task::spawn_blocking(move || r.read_at(at, CHUNK))
                    .await
                    .map_err(|e| other("read", e))?
                    .map_err(|e| other(&format!("read {}", rec.id), e))?;
                if chunk.is_empty() {
                    break;
                }
                at += chunk.len() as u64;
                sink.write(chunk).await.map_err(|e| other("write", e))?;
            }
        }
        Opened::Head | Opened::Redirect(_) | Opened::Elsewhere(_) => {
            return Err(DaemonError::Other(format!("{}: the source offered no bytes", rec.id)));
        }
    }
    let staged = sink.finish().await.map_err(|e| other("finish", e))?;
    if staged.measured.len != rec.size_bytes || staged.measured.sha256 != rec.digests.sha256 {
        return Err(DaemonError::Other(format!("{}: the stored bytes do not match the record; run fsck", rec.id)));
    }
    let len = staged.measured.len;
    let location = dst.place(staged).await.map_err(|e| other("write the object", e))?;
    Ok((location, len))
}
