//! [`Housekeeping`] for the `postgres_s3` backend: the orphan sweep (objects under the prefix
//! that no uploaded record points at), a check of every record against its object and of the
//! usage counters against the records, and nothing to compact. Backups are PostgreSQL's
//! (`pg_dump`, or its continuous archiving) and the object store's (versioning, replication),
//! as docs/OPERATIONS.md describes; `backup` says so instead of pretending.

use std::collections::HashMap;
use std::path::Path as FsPath;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::ObjectStoreExt;

use super::PgS3Backend;
use super::rows;
use super::runner::{pg_error, pool_error};
use crate::engine::{
    BackupReport, BlobError, BlobResult, Catalog, CompactionReport, FsckReport, Housekeeping, Problem, UploadGuard,
};
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{Attachment, Location};

impl PgS3Backend {
    /// Every record (a check reads them all).
    fn all_records(&self) -> BlobResult<Vec<Attachment>> {
        let pool = self.catalog.runner.pool().clone();
        Ok(self.catalog.runner.run(async move {
            let c = pool.get().await.map_err(pool_error)?;
            let rows = c.query("SELECT record FROM attachments ORDER BY id", &[]).await.map_err(pg_error)?;
            rows.iter().map(|r| rows::decode(r.get::<_, &[u8]>(0))).collect::<Result<Vec<_>, _>>()
        })?)
    }

    /// Every object under the prefix: (key, size, age).
    fn objects(&self) -> BlobResult<Vec<(object_store::path::Path, u64, Duration)>> {
        let store = self.blobs.store.clone();
        let prefix = self.blobs.prefix.trim_end_matches('/').to_string();
        self.catalog.runner.run(async move {
            let prefix = (!prefix.is_empty()).then(|| object_store::path::Path::from(prefix));
            let mut list = store.list(prefix.as_ref());
            let mut out = Vec::new();
            let now = chrono_now();
            while let Some(meta) = list.next().await {
                let meta = meta.map_err(|e| BlobError::Backend(format!("object store: list: {e}")))?;
                let age = Duration::from_secs((now - meta.last_modified.timestamp()).max(0) as u64);
                out.push((meta.location, meta.size, age));
            }
            Ok(out)
        })
    }
}

fn chrono_now() -> i64 {
    (crate::clock::Timestamp::now().0 / 1_000_000) as i64
}

/// The attachment id an object's key ends with.
fn id_of(key: &object_store::path::Path) -> Option<AttachmentId> {
    key.filename().and_then(|f| f.parse().ok())
}

impl Housekeeping for PgS3Backend {
    fn sweep_orphans(&self, grace: Duration, uploads: &dyn UploadGuard) -> BlobResult<u64> {
        let mut removed = 0;
        for (key, _, age) in self.objects()? {
            if age < grace {
                continue;
            }
            let Some(id) = id_of(&key) else { continue };
            // A pending record's retry may reuse an object its earlier attempt left (the same
            // bytes): it becomes an orphan only once the reservation is gone.
            let owned = match self.catalog.record(id)? {
                Some(rec) => rec.is_pending() || self.blobs.key_of_record(&rec) == Some(key.clone()),
                None => false,
            };
            if owned {
                continue;
            }
            let store = self.blobs.store.clone();
            let runner = self.catalog.runner.clone();
            let k = key.clone();
            let done = uploads.unless_uploading(id, &mut || {
                let (store, k) = (store.clone(), k.clone());
                runner.run(async move {
                    match store.delete(&k).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                        Err(e) => Err(BlobError::Backend(format!("object store: delete: {e}"))),
                    }
                })
            });
            if let Some(r) = done {
                r?;
                tracing::info!(%key, "removed an object no record points at");
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn compact(&self) -> BlobResult<CompactionReport> {
        Ok(CompactionReport::default())
    }

    fn disk_bytes(&self) -> u64 {
        0
    }

    fn sample(&self) -> serde_json::Value {
        serde_json::json!({ "backend": "postgres_s3" })
    }

    fn fsck(&self, repair: bool) -> BlobResult<FsckReport> {
        if repair {
            return Err(BlobError::Backend("repair is not offered on postgres_s3: the checks only report".into()));
        }
        let records = self.all_records()?;
        let objects: HashMap<_, _> = self.objects()?.into_iter().map(|(k, size, _)| (k, size)).collect();
        let mut report = FsckReport { records: records.len() as u64, ..Default::default() };
        let mut usage: HashMap<ProjectId, (i64, i64)> = HashMap::new();
        let mut keys = std::collections::HashSet::new();
        for rec in &records {
            if rec.deleted_at.is_none() {
                let u = usage.entry(rec.project_id).or_default();
                u.0 += rows::size(rec.size_bytes);
                u.1 += 1;
            }
            let Some(key) = self.blobs.key_of_record(rec) else { continue };
            report.uploaded += 1;
            keys.insert(key.clone());
            let problem = |what: String| Problem { attachment_id: rec.id.to_string(), what };
            match objects.get(&key) {
                None => report.missing.push(problem(format!("object {key} is missing"))),
                Some(size) if *size != rec.size_bytes => {
                    report.corrupt.push(problem(format!("object {key} is {size} bytes, expected {}", rec.size_bytes)))
                }
                Some(_) => {}
            }
        }
        for (project, (bytes, files)) in &usage {
            let c = self.catalog.usage(project, None)?;
            if (c.bytes, c.count) != (*bytes, *files) {
                report
                    .counter_mismatches
                    .push(format!("project {project}: {c:?}, records sum to {bytes} bytes, {files} files"));
            }
        }
        report.orphan_files = objects.keys().filter(|k| !keys.contains(*k)).map(|k| k.to_string()).collect();
        report.ok = report.missing.is_empty() && report.corrupt.is_empty() && report.counter_mismatches.is_empty();
        Ok(report)
    }

    fn repair_interrupted(&self) -> BlobResult<bool> {
        Ok(false)
    }

    fn backup(&self, _dest: &FsPath) -> BlobResult<BackupReport> {
        Err(BlobError::Backend(
            "postgres_s3 is backed up by PostgreSQL (pg_dump or continuous archiving) and the object store (versioning or replication); see docs/OPERATIONS.md".into(),
        ))
    }

    fn close(&self) {}
}

impl super::S3Blobs {
    /// The key of an uploaded record's object.
    pub(super) fn key_of_record(&self, rec: &Attachment) -> Option<object_store::path::Path> {
        match rec.location {
            Some(Location::Standalone { month, .. }) => Some(self.key(&rec.project_id, month, &rec.id)),
            _ => None,
        }
    }
}
