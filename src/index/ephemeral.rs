//! Column family `ephemeral`: files kept only until a deadline (`Retention::Until`), by
//! deadline, for the job that removes them.
//!
//! ```text
//! key:    0                  8                24
//!         | remove_at µs (BE) | attachment id |
//! value:  empty
//! ```
//! A row exists exactly while its record has a removal deadline and is not soft-deleted, in
//! any upload state: an ephemeral reservation never uploaded is removed at its deadline like
//! an uploaded one. Removing it (a soft delete, or discarding a reservation) drops the row in
//! the same transition.

use crate::clock::Timestamp;
use crate::ids::AttachmentId;

use super::expiry::{due, key};
use super::{Batch, Index, IndexError};
use crate::model::{Attachment, Retention};

/// Column family name.
pub const CF: &str = "ephemeral";

impl Index {
    /// Up to `limit` live files whose removal deadline is before `before`, oldest first.
    pub fn ephemeral_due(&self, before: Timestamp, limit: usize) -> Result<Vec<(Timestamp, AttachmentId)>, IndexError> {
        due(self, CF, before, limit)
    }
}

impl Batch<'_> {
    /// Lists `rec` (live, with a deadline) for removal at its deadline.
    pub(super) fn put_ephemeral(&mut self, rec: &Attachment) {
        if let (Retention::Until(t), None) = (rec.retention, rec.deleted_at) {
            self.put(CF, &key(t, rec.id), &[]);
        }
    }
}
