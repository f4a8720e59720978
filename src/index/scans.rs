//! Column family `scans`: the scan queue, uploaded files waiting for the content scanner, in
//! the order they were uploaded.
//!
//! ```text
//! key:    0                     8                24
//!         | uploaded_at µs (BE) | attachment id  |
//! value:  empty
//! ```
//! A row exists exactly while its record is uploaded, not soft-deleted, and its scan state is
//! `Pending`: the upload's commit writes it in the same batch as the record (so a queued scan
//! survives any crash the upload survives), and the verdict's transition removes it. The scan
//! worker reads the queue from the start; it never writes the family itself.

use crate::clock::Timestamp;
use crate::ids::AttachmentId;

use super::expiry::{due, key};
use super::{Batch, Index, IndexError};
use crate::model::{Attachment, ScanState};

/// Column family name.
pub const CF: &str = "scans";

/// Whether `rec` waits in the scan queue.
pub fn queued(rec: &Attachment) -> bool {
    rec.deleted_at.is_none() && rec.uploaded_at.is_some() && rec.scan == ScanState::Pending
}

impl Index {
    /// Up to `limit` files waiting for a scan, oldest upload first.
    pub fn scan_queue(&self, limit: usize) -> Result<Vec<(Timestamp, AttachmentId)>, IndexError> {
        due(self, CF, Timestamp(u64::MAX), limit)
    }
}

impl Batch<'_> {
    /// Queues `rec` (uploaded, live, scan pending) for the scanner.
    pub(super) fn put_scan(&mut self, rec: &Attachment) {
        if let Some(t) = rec.uploaded_at {
            self.put(CF, &key(t, rec.id), &[]);
        }
    }
}
