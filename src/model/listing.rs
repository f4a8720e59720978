//! Listing and accounting values every backend returns: where a newest-first page starts, a
//! row of such a page, a (bytes, count) tally and a project's pending reservations.

use crate::clock::Timestamp;
use crate::ids::AttachmentId;

/// Where a page starts, in newest-first order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// From the newest.
    Start,
    /// Strictly after this row (the opaque cursor: exact, with tie-breaker).
    Row(Timestamp, AttachmentId),
    /// Rows created strictly before this instant (an ISO-timestamp cursor).
    OlderThan(Timestamp),
}

/// A row of a newest-first listing: order by `created_at` descending, then id descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineRow {
    /// Creation time of the attachment.
    pub created_at: Timestamp,
    /// The attachment.
    pub id: AttachmentId,
}

/// A (bytes, count) pair: usage of a project or user, live bytes of a segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Sum of sizes.
    pub bytes: i64,
    /// Number of items.
    pub count: i64,
}

impl Counter {
    /// A delta of `bytes` and `count`.
    pub fn delta(bytes: i64, count: i64) -> Self {
        Self { bytes, count }
    }

    /// Bytes, clamped at zero (for display and quota arithmetic).
    pub fn bytes_u64(&self) -> u64 {
        self.bytes.max(0) as u64
    }

    /// Count, clamped at zero.
    pub fn count_u64(&self) -> u64 {
        self.count.max(0) as u64
    }
}

/// Pending (reserved, not uploaded) reservations of one project, or of all.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// How many.
    pub count: u64,
    /// Their declared bytes.
    pub bytes: u64,
}
