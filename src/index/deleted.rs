//! Column family `deleted`: soft-deleted attachments by deletion time, for the cleanup job.
//!
//! ```text
//! key:    0                    8                24
//!         | deleted_at µs (BE) | attachment id  |
//! value:  empty
//! ```
//! A row exists exactly while its record is soft-deleted and not yet reclaimed.

use crate::clock::Timestamp;
use crate::ids::AttachmentId;

use super::expiry::{due, key};
use super::{Batch, Index, IndexError};
use crate::model::Attachment;

/// Column family name.
pub const CF: &str = "deleted";

impl Index {
    /// Up to `limit` soft-deleted attachments deleted before `before`, oldest first.
    pub fn deleted_before(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, AttachmentId)>, IndexError> {
        due(self, CF, before, limit)
    }
}

impl Batch<'_> {
    /// Marks `rec` (which has `deleted_at`) as awaiting reclaim.
    pub(super) fn put_deleted(&mut self, rec: &Attachment) {
        if let Some(t) = rec.deleted_at {
            self.put(CF, &key(t, rec.id), &[]);
        }
    }

    /// Removes a reclaim row by its key parts (a row its record no longer accounts for).
    pub fn delete_deleted_row(&mut self, t: Timestamp, id: AttachmentId) {
        self.delete(CF, &key(t, id));
    }
}
