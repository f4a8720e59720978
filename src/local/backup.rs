//! Online backup of the local backend's data directory: a RocksDB checkpoint plus the segment
//! and blob files it refers to, taken while the daemon serves.
//!
//! The service names the destination (`<storage.backup_dir>/<name>`, created empty) and holds
//! its maintenance lock meanwhile. Order: (1) under that lock, cleanup and compaction cannot
//! remove a segment or blob between the checkpoint and the copy; (2) RocksDB
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
use std::path::Path;

use crate::engine::{BackupReport, BlobResult};
use crate::store::{SegmentState, snapshot_tree};

use super::LocalBackend;

/// Whether the segment file at `path` must be copied rather than hard-linked: everything but
/// the segments that were sealed before the walk began.
fn must_copy(sealed: &HashSet<String>, path: &Path) -> bool {
    !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| sealed.contains(n))
}

impl LocalBackend {
    /// Writes a backup of the data directory into `dest` (an empty directory).
    pub(super) fn write_backup(&self, dest: &Path) -> BlobResult<BackupReport> {
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
}
