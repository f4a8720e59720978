//! What a record implies elsewhere in the index: its rows in the derived families and its
//! shares of the counters. Written once, here; [`super::transition`] writes the difference
//! between two states of a record from it, and fsck checks and rebuilds from it.
//!
//! A record owns: a `listing` row and its `filters` rows while not soft-deleted; an `expiry`
//! row while pending; a `deleted` row while soft-deleted; a `scans` row while uploaded, live and
//! waiting for a scan; an `ephemeral` row while live with a removal deadline; a share of the `usage` counters
//! (its declared size, and one file) while not soft-deleted; a share of its segment's
//! `segments` counter (its stored length, and one record) while it has a segment location.

use crate::ids::{AttachmentId, EndUserId, ProjectId, SegmentId};

use super::counter::Counter;
use super::records::RecordReads;
use super::{Batch, Index, IndexError, Reads, deleted, ephemeral, expiry, filters, listing, scans};
use super::{segments, usage};
use crate::model::{Attachment, Location};

/// The column families whose rows are derived from records (key ends with the attachment id).
pub const ROW_FAMILIES: [&str; 6] = [listing::CF, filters::CF, expiry::CF, deleted::CF, scans::CF, ephemeral::CF];

/// One derived row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its column family.
    pub cf: &'static str,
    /// Its key.
    pub key: Vec<u8>,
    /// Its value.
    pub value: Vec<u8>,
}

/// A counter a record adds to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CounterKey {
    /// A project's usage (`None`) or one end user's share of it.
    Usage(ProjectId, Option<EndUserId>),
    /// A segment's live bytes and records.
    Segment(SegmentId),
}

/// A record's rows in `listing`, `filters`, `expiry`, `deleted`, `scans` and `ephemeral`.
pub fn rows_of(index: &Index, rec: &Attachment) -> Vec<Row> {
    let mut b = Batch::recording(index);
    if rec.deleted_at.is_none() {
        b.put_listing(rec);
        b.put_filters(rec);
        if rec.is_pending() {
            b.put_expiry(rec);
        }
        if scans::queued(rec) {
            b.put_scan(rec);
        }
        b.put_ephemeral(rec);
    } else {
        b.put_deleted(rec);
    }
    b.recorded.take().unwrap_or_default()
}

/// What a record adds to each counter it counts in.
pub fn shares_of(rec: &Attachment) -> Vec<(CounterKey, Counter)> {
    let mut out = Vec::with_capacity(3);
    if rec.deleted_at.is_none() {
        let size = Counter { bytes: clamp(rec.size_bytes), count: 1 };
        out.push((CounterKey::Usage(rec.project_id, None), size));
        if let Some(u) = &rec.owner {
            out.push((CounterKey::Usage(rec.project_id, Some(u.clone())), size));
        }
    }
    if let Some(Location::Segment { segment, .. }) = rec.location {
        let stored = rec.size_bytes.saturating_add(segments::RECORD_OVERHEAD);
        out.push((CounterKey::Segment(segment), Counter { bytes: clamp(stored), count: 1 }));
    }
    out
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks of the derived families against the records, live or on a [`super::Snapshot`].
pub trait DerivedReads: Reads {
    /// The rows `rec` should have but the index lacks, as family names.
    fn missing_rows(&self, rec: &Attachment) -> Result<Vec<&'static str>, IndexError> {
        let mut missing = Vec::new();
        for row in rows_of(self.index(), rec) {
            if self.get_cf(row.cf, &row.key)?.is_none() {
                missing.push(row.cf);
            }
        }
        Ok(missing)
    }

    /// Rows in the derived families that no record accounts for: (family, attachment id).
    fn dangling_rows(&self) -> Result<Vec<(&'static str, AttachmentId)>, IndexError> {
        let mut out = Vec::new();
        for cf in ROW_FAMILIES {
            for r in self.scan_prefix(cf, Vec::new(), &[]) {
                let (key, _) = r?;
                let Some(id) = key.len().checked_sub(16).and_then(|at| AttachmentId::from_slice(&key[at..])) else {
                    out.push((cf, AttachmentId::from_bytes([0; 16])));
                    continue;
                };
                let owned = match self.record(id)? {
                    Some(rec) => rows_of(self.index(), &rec).iter().any(|r| r.cf == cf && r.key == key.as_ref()),
                    None => false,
                };
                if !owned {
                    out.push((cf, id));
                }
            }
        }
        Ok(out)
    }
}

impl<T: Reads + ?Sized> DerivedReads for T {}

impl Batch<'_> {
    /// Writes `rec`'s derived rows alone (no record, no counters): damage planted by the tests
    /// that prove fsck and cleanup cope with rows no record accounts for.
    pub fn plant_rows(&mut self, rec: &Attachment) {
        for row in rows_of(self.index, rec) {
            self.put(row.cf, &row.key, &row.value);
        }
    }

    /// Removes `rec`'s rows in family `cf` alone: damage planted by the tests of fsck.
    pub fn remove_rows(&mut self, cf: &str, rec: &Attachment) {
        for row in rows_of(self.index, rec).into_iter().filter(|r| r.cf == cf) {
            self.delete(row.cf, &row.key);
        }
    }

    /// Deletes every row of the derived families and every counter (repair, before rewriting),
    /// and restarts the in-memory pending totals from zero at commit. Only offline repair calls
    /// it: with the daemon serving, a reservation committed between this batch and the rebuild
    /// would be counted twice.
    pub fn clear_derived(&mut self) {
        for cf in ROW_FAMILIES.into_iter().chain([usage::CF, segments::CF]) {
            let h = self.index.cf(cf);
            self.wb().delete_range_cf(h, &[0u8; 0][..], &[0xffu8; 80][..]);
        }
        self.pending.clear();
        self.pending_reset = true;
    }
}
