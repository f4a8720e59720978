//! [`LocalBackend`]: the local backend assembled — the RocksDB index and the segment and blob
//! files of one data directory, the group committer over both, and the [`Catalog`],
//! [`BlobStore`] and [`Housekeeping`] the service holds.
//!
//! Opening runs recovery in order: the index first (RocksDB replays its WAL), then the store
//! (unsealed segments are scanned and their torn tails cut), and only then the committer,
//! so nothing is written before both halves agree on what is durable. Closing is the reverse:
//! the committer drains its queue, the active segment is sealed, the index is flushed (a
//! failed seal or flush is logged; the next open's recovery covers it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::IoEngineChoice;
use crate::engine::{Backend, BackupReport, BlobResult, CompactionReport, FsckReport, Housekeeping, UploadGuard};
use crate::index::prelude::*;
use crate::index::{CommitHook, Index, IndexError};
use crate::store::format::FILE_HEADER_LEN;
use crate::store::io::IoEngine;
use crate::store::{SegmentState, Store, StoreError};

use super::{Committer, LocalBlobConfig, LocalBlobs, LocalCatalog};

/// The local backend's settings.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The data directory (`index/`, `segments/`, `blobs/`).
    pub data_dir: PathBuf,
    /// The io engine segment writes go through.
    pub io_engine: IoEngineChoice,
    /// Size of a preallocated segment file.
    pub segment_bytes: u64,
    /// Largest attachment stored in a segment; larger ones get a standalone file.
    pub standalone_threshold: u64,
    /// Free space an upload must leave on the data volume.
    pub min_free_bytes: u64,
    /// Most bytes per group commit.
    pub max_commit_batch_bytes: u64,
    /// Live fraction below which a sealed segment is compacted.
    pub compaction_live_ratio: f64,
    /// Compaction copy throttle, bytes per second.
    pub compaction_bytes_per_sec: u64,
    /// X-Accel-Redirect internal location prefix (empty: the daemon serves bytes itself).
    pub x_accel_prefix: String,
}

/// Why the local backend could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The index failed to open.
    #[error("open index: {0}")]
    Index(#[from] IndexError),
    /// The store failed to open or recover.
    #[error("open store: {0}")]
    Store(#[from] StoreError),
    /// The group committer could not start.
    #[error("start the group committer: {0}")]
    Committer(std::io::Error),
}

/// The local backend.
pub struct LocalBackend {
    pub(super) cfg: LocalConfig,
    pub(super) index: Arc<Index>,
    pub(super) store: Arc<Store>,
    pub(super) committer: Arc<Committer>,
    catalog: Arc<LocalCatalog>,
    blobs: Arc<LocalBlobs>,
}

impl LocalBackend {
    /// Opens (and recovers) the data directory. `engine` overrides the configured io engine
    /// and `hook` sees every index commit (both for fault-injection tests).
    pub fn open(
        cfg: LocalConfig,
        engine: Option<Arc<dyn IoEngine>>,
        hook: Option<Arc<dyn CommitHook>>,
    ) -> Result<Arc<Self>, OpenError> {
        tracing::info!(path = %cfg.data_dir.join("index").display(), "opening index");
        let index = Arc::new(Index::open_with_hook(&cfg.data_dir.join("index"), hook)?);
        tracing::info!("opening store (recovering unsealed segments)");
        let store = Arc::new(match engine {
            Some(e) => Store::open_with_engine(&cfg.data_dir, e, cfg.segment_bytes)?,
            None => Store::open(&cfg.data_dir, cfg.io_engine, cfg.segment_bytes)?,
        });
        tracing::info!(engine = store.engine_name(), segments = store.segments.list().len(), "store open");
        let catalog = Arc::new(LocalCatalog::new(index.clone()));
        let committer = Arc::new(
            Committer::start(index.clone(), store.clone(), catalog.locks(), cfg.max_commit_batch_bytes)
                .map_err(OpenError::Committer)?,
        );
        let blob_cfg = LocalBlobConfig {
            data_dir: cfg.data_dir.clone(),
            standalone_threshold: cfg.standalone_threshold,
            min_free_bytes: cfg.min_free_bytes,
            x_accel_prefix: cfg.x_accel_prefix.clone(),
        };
        let blobs = Arc::new(LocalBlobs::new(blob_cfg, index.clone(), store.clone(), committer.clone()));
        Ok(Arc::new(Self { cfg, index, store, committer, catalog, blobs }))
    }

    /// The catalog, blob store and housekeeping the service holds.
    pub fn parts(self: &Arc<Self>) -> Backend {
        Backend { catalog: self.catalog.clone(), blobs: self.blobs.clone(), housekeeping: self.clone() }
    }

    /// The index (tests that plant damage or markers reach it here).
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }
}

impl Housekeeping for LocalBackend {
    fn sweep_orphans(&self, grace: Duration, uploads: &dyn UploadGuard) -> BlobResult<u64> {
        self.sweep_orphan_files(grace, uploads)
    }

    fn compact(&self) -> BlobResult<CompactionReport> {
        self.compact_segments()
    }

    fn disk_bytes(&self) -> u64 {
        self.store.segments.disk_bytes() + self.store.blobs.disk_bytes()
    }

    fn sample(&self) -> serde_json::Value {
        let segs = self.store.segments.list();
        let (mut live, mut dead) = (0u64, 0u64);
        for s in &segs {
            let l = self.index.segment_live(s.id).map(|c| c.bytes_u64()).unwrap_or(0);
            let used = s.used.saturating_sub(FILE_HEADER_LEN as u64);
            live += l;
            if s.state != SegmentState::Active {
                dead += used.saturating_sub(l);
            }
        }
        crate::metrics::segments(segs.len(), live, dead);
        let free = crate::store::free_bytes(&self.cfg.data_dir);
        crate::metrics::disk_free(free);
        serde_json::json!({ "segments": segs.len(), "live": live, "dead": dead, "disk_free": free })
    }

    fn fsck(&self, repair: bool) -> BlobResult<FsckReport> {
        Ok(self.check_and_repair(repair)?)
    }

    fn repair_interrupted(&self) -> BlobResult<bool> {
        Ok(self.repair_marker_set()?)
    }

    fn backup(&self, dest: &Path) -> BlobResult<BackupReport> {
        self.write_backup(dest)
    }

    fn close(&self) {
        self.committer.shutdown();
        if let Err(e) = self.store.segments.seal_active() {
            tracing::warn!(error = %e, "could not seal the active segment; recovery will at next start");
        }
        if let Err(e) = self.index.flush() {
            tracing::warn!(error = %e, "index flush at shutdown failed; the WAL still has everything");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::engine::conformance::{self, Fixture};
    use crate::engine::{Backend, BlobStore, Catalog};

    use super::{LocalBackend, LocalConfig};

    struct Local {
        _dir: tempfile::TempDir,
        parts: Backend,
    }

    impl Fixture for Local {
        fn catalog(&self) -> Arc<dyn Catalog> {
            self.parts.catalog.clone()
        }
        fn blobs(&self) -> Arc<dyn BlobStore> {
            self.parts.blobs.clone()
        }
    }

    /// The backend conformance suite, on RocksDB and local files.
    #[test]
    fn the_local_backend_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LocalConfig {
            data_dir: dir.path().to_path_buf(),
            io_engine: crate::config::IoEngineChoice::Auto,
            segment_bytes: 8 << 20,
            standalone_threshold: 65_536,
            min_free_bytes: 0,
            max_commit_batch_bytes: 4 << 20,
            compaction_live_ratio: 0.5,
            compaction_bytes_per_sec: u64::MAX,
            x_accel_prefix: String::new(),
        };
        let backend = LocalBackend::open(cfg, None, None).unwrap();
        let local = Local { parts: backend.parts(), _dir: dir };
        conformance::run_all(&local);
        crate::engine::Housekeeping::close(&*backend);
    }
}
