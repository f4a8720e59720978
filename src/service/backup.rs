//! Online backup of a data directory: a RocksDB checkpoint plus the segment and blob files it
//! refers to, taken while the daemon serves.
//!
//! Order: (1) hold the maintenance lock, so cleanup and compaction cannot remove a segment or
//! blob between the checkpoint and the copy; (2) RocksDB checkpoint into `<dest>/index`;
//! (3) hard-link sealed segments and committed blobs (immutable once written; copied when
//! `dest` is on another filesystem), copy the active segment (still being appended to: the
//! extra tail is cut by recovery when the backup is opened); (4) copy `bootstrap.json` and
//! `secrets.json`. Every record the checkpoint points at was durable before the checkpoint, so
//! it is in the copy. Restore = start attachd with `data_dir` set to the backup directory.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::store::snapshot_tree;

use super::{Result, Service, ServiceError};

/// What a backup wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The backup directory (a complete data directory).
    pub dest: PathBuf,
    /// Bytes of segment files linked or copied.
    pub segment_bytes: u64,
    /// Bytes of standalone blobs linked or copied.
    pub blob_bytes: u64,
}

impl Service {
    /// Writes a backup of the data directory to `dest` (which must not exist).
    pub fn backup(&self, dest: &Path) -> Result<BackupReport> {
        let data_dir = &self.cfg.data_dir;
        if !dest.is_absolute() {
            return Err(ServiceError::BadParameter("dest must be an absolute path".into()));
        }
        if dest.exists() {
            return Err(ServiceError::Conflict(format!("{} already exists", dest.display())));
        }
        let _maintenance = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::create_dir_all(dest).map_err(|e| ServiceError::Internal(format!("create {}: {e}", dest.display())))?;
        self.index.checkpoint(&dest.join("index"))?;
        let active = self.store.segments.active_id().map(|id| format!("{id}.seg"));
        let is_active = |p: &Path| active.as_deref().is_some_and(|a| p.file_name().is_some_and(|n| n == a));
        let segment_bytes = snapshot_tree(self.store.segments.dir(), &dest.join("segments"), &is_active)?;
        let blob_bytes = snapshot_tree(self.store.blobs.root(), &dest.join("blobs"), &|p: &Path| {
            p.components().any(|c| c.as_os_str() == ".tmp")
        })?;
        let _ = std::fs::remove_dir_all(dest.join("blobs/.tmp"));
        for f in ["bootstrap.json", "secrets.json"] {
            if data_dir.join(f).exists() {
                std::fs::copy(data_dir.join(f), dest.join(f))
                    .map_err(|e| ServiceError::Internal(format!("copy {f}: {e}")))?;
            }
        }
        tracing::info!(dest = %dest.display(), segment_bytes, blob_bytes, "backup written");
        Ok(BackupReport { dest: dest.to_path_buf(), segment_bytes, blob_bytes })
    }
}
