//! The orphan sweep of the local backend: files in the blob area that no record points at,
//! and temporary files of interrupted uploads, removed once older than the orphan grace.
//!
//! A standalone upload renames its file into place before its record points at it, so a file
//! with no record may be an upload between rename and commit: every removal of a file named
//! after an attachment runs under the caller's [`UploadGuard`], which keeps an upload of that
//! id from running or starting while the record is looked up and the file removed — never a
//! live upload's file, unlike the reference. A file whose name is not a blob's (nothing
//! attachd wrote) is removed after the grace too. Segment bytes are not swept here: dead
//! records in segments are compaction's (`compaction.rs`).

use std::time::{Duration, SystemTime};

use crate::engine::{BlobError, BlobResult, UploadGuard};
use crate::ids::AttachmentId;
use crate::index::prelude::*;
use crate::model::Attachment;
use crate::store::StoredBlob;

use super::LocalBackend;

/// Whether `rec` points at exactly the standalone file `b` (same project, same month).
pub(super) fn points_at(rec: &Attachment, b: &StoredBlob) -> bool {
    rec.project_id == b.project && rec.location.and_then(|l| l.standalone_month()) == Some(b.month)
}

impl LocalBackend {
    /// Whether the record `b` is named after points at exactly this file.
    pub(super) fn blob_referenced(&self, b: &StoredBlob) -> BlobResult<bool> {
        Ok(self.index.record(b.id)?.is_some_and(|r| points_at(&r, b)))
    }

    /// Removes unreferenced blob files and temporary files older than `grace`; returns how
    /// many were removed.
    pub(super) fn sweep_orphan_files(&self, grace: Duration, uploads: &dyn UploadGuard) -> BlobResult<u64> {
        let cutoff = SystemTime::now() - grace;
        let blobs = &self.store.blobs;
        let mut removed = 0u64;
        for (blob, path, mtime) in blobs.list()? {
            if mtime > cutoff {
                continue;
            }
            let Some(b) = blob else {
                tracing::info!(path = %path.display(), "removing a file that is not a blob");
                blobs.remove_path(&path)?;
                removed += 1;
                continue;
            };
            let mut gone = false;
            let outcome = uploads.unless_uploading(b.id, &mut || {
                if !self.blob_referenced(&b)? {
                    blobs.remove_path(&path).map_err(BlobError::from)?;
                    gone = true;
                }
                Ok(())
            });
            outcome.transpose()?;
            if gone {
                tracing::info!(path = %path.display(), "removed an orphaned blob file");
                removed += 1;
            }
        }
        for (path, mtime) in blobs.list_tmp()? {
            if mtime > cutoff {
                continue;
            }
            let id: Option<AttachmentId> = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split('.').next())
                .and_then(|id| id.parse().ok());
            let mut remove = || blobs.remove_path(&path).map_err(BlobError::from);
            let outcome = match id {
                Some(id) => uploads.unless_uploading(id, &mut remove),
                None => Some(remove()),
            };
            if let Some(r) = outcome {
                r?;
                tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted upload");
                removed += 1;
            }
        }
        Ok(removed)
    }
}
