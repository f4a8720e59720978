//! Online backup of a data directory: a RocksDB checkpoint plus the segment and blob files it
//! refers to, taken while the daemon serves.
//!
//! Backups go to `<storage.backup_dir>/<name>`, never anywhere else: the admin API names a
//! backup, it does not choose a path. Order: (1) hold the maintenance lock, so cleanup and
//! compaction cannot remove a segment or blob between the checkpoint and the copy; (2) RocksDB
//! checkpoint into `<dest>/index`; (3) note which segments are sealed *now*, then hard-link
//! those and committed blobs (immutable once written; copied when `dest` is on another
//! filesystem) and copy every other segment file — the active one, and any created during the
//! walk (a restored daemon seals, i.e. truncates, its active segment: a hard link to a segment
//! still being written would let it truncate the live daemon's file); the extra tail of a copy
//! is cut by recovery when the backup is opened. Every record the checkpoint points at was
//! durable before the checkpoint, so it is in the copy. No secret is copied: `bootstrap.json`
//! (plaintext keys) and `secrets.json` (signing keys) stay behind; keys and admin tokens are
//! stored hashed in the index and keep working, and a restored daemon uses the configured
//! signing secrets or generates new ones (outstanding download URLs then lapse, as they do
//! within a minute anyway). Restore = start attachd with `data_dir` set to the backup directory.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::store::{SegmentState, snapshot_tree};

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

/// Whether `name` can name a backup: a plain file name, so it can never leave the backup dir.
pub fn valid_backup_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether the segment file at `path` must be copied rather than hard-linked: everything but
/// the segments that were sealed before the walk began.
fn must_copy(sealed: &HashSet<String>, path: &Path) -> bool {
    !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| sealed.contains(n))
}

impl Service {
    /// Writes a backup of the data directory to `<backup_dir>/<name>` (which must not exist).
    pub fn backup(&self, name: &str) -> Result<BackupReport> {
        if self.cfg.backup_dir.as_os_str().is_empty() {
            return Err(ServiceError::Forbidden("backups are disabled (storage.backup_dir is empty)"));
        }
        if !valid_backup_name(name) {
            return Err(ServiceError::BadParameter(
                "name must be 1-128 letters, digits, '.', '_' or '-', not starting with '.'".into(),
            ));
        }
        let dest = &self.cfg.backup_dir.join(name);
        let _maintenance = self.maintenance.lock().unwrap_or_else(|e| e.into_inner());
        let made = std::fs::create_dir_all(&self.cfg.backup_dir).and_then(|()| std::fs::create_dir(dest));
        match made {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ServiceError::Conflict(format!("backup {name} already exists")));
            }
            Err(e) => return Err(ServiceError::Internal(format!("create {}: {e}", dest.display()))),
            Ok(()) => {}
        }
        self.index.checkpoint(&dest.join("index"))?;
        let sealed: HashSet<String> = (self.store.segments.list().into_iter())
            .filter(|s| s.state == SegmentState::Sealed)
            .map(|s| format!("{}.seg", s.id))
            .collect();
        let segment_bytes =
            snapshot_tree(self.store.segments.dir(), &dest.join("segments"), &|p: &Path| must_copy(&sealed, p))?;
        let blob_bytes = snapshot_tree(self.store.blobs.root(), &dest.join("blobs"), &|p: &Path| {
            p.components().any(|c| c.as_os_str() == ".tmp")
        })?;
        let _ = std::fs::remove_dir_all(dest.join("blobs/.tmp"));
        tracing::info!(dest = %dest.display(), segment_bytes, blob_bytes, "backup written");
        Ok(BackupReport { dest: dest.to_path_buf(), segment_bytes, blob_bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_segments_sealed_before_the_walk_are_linked() {
        let sealed: HashSet<String> = ["0000000000000001.seg".to_string()].into();
        assert!(!must_copy(&sealed, Path::new("/d/segments/0000000000000001.seg")));
        // The active segment, and one created (so active) while the walk ran, are copied.
        assert!(must_copy(&sealed, Path::new("/d/segments/0000000000000002.seg")));
        assert!(must_copy(&sealed, Path::new("/d/segments/0000000000000003.seg")));
        assert!(must_copy(&sealed, Path::new("/d/segments/0000000000000001.corrupt")));
    }

    #[test]
    fn backup_names_cannot_leave_the_backup_dir() {
        for ok in ["2026-12-02", "nightly_1", "a.b"] {
            assert!(valid_backup_name(ok), "{ok}");
        }
        for bad in ["", "..", ".hidden", "../etc", "a/b", "/abs", "a\\b", "x y", &"n".repeat(129)] {
            assert!(!valid_backup_name(bad), "{bad}");
        }
    }
}
