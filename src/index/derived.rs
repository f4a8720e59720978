//! The rows a record implies in the other column families, for checking and rebuilding them.
//!
//! A record owns: a `listing` row and its `filters` rows while not soft-deleted; an `expiry`
//! row while pending; a `deleted` row while soft-deleted; a share of the `usage` counters while
//! not soft-deleted; a share of its segment's `segments` counter while it has a segment
//! location. `fsck` checks these against the record; `fsck --repair` clears and rewrites them.

use crate::ids::AttachmentId;

use super::records::RecordReads;
use super::{AttachmentRecord, Batch, Index, IndexError, Reads, deleted, expiry, filters, listing, segments, usage};

/// The column families whose rows are derived from records (key ends with the attachment id).
pub const ROW_FAMILIES: [&str; 4] = [listing::CF, filters::CF, expiry::CF, deleted::CF];

/// A record's rows in `listing`, `filters`, `expiry` and `deleted`, as (family, key).
pub fn rows_of(index: &Index, rec: &AttachmentRecord) -> Vec<(&'static str, Vec<u8>)> {
    let mut b = Batch::recording(index);
    if rec.deleted_at.is_none() {
        b.put_listing(rec);
        b.put_filters(rec);
        if rec.uploaded_at.is_none() {
            b.put_expiry(rec);
        }
    } else {
        b.put_deleted(rec);
    }
    b.recorded.take().unwrap_or_default()
}

/// Checks of the derived families against the records, live or on a [`super::Snapshot`].
pub trait DerivedReads: Reads {
    /// The rows `rec` should have but the index lacks, as family names.
    fn missing_rows(&self, rec: &AttachmentRecord) -> Result<Vec<&'static str>, IndexError> {
        let mut missing = Vec::new();
        for (cf, key) in rows_of(self.index(), rec) {
            if self.get_cf(cf, &key)?.is_none() {
                missing.push(cf);
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
                    Some(rec) => {
                        rows_of(self.index(), &rec).iter().any(|(c, k)| *c == cf && k.as_slice() == key.as_ref())
                    }
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
    /// Deletes every row of the derived families and every counter (repair, before rewriting),
    /// and restarts the in-memory pending totals from zero at commit. Only offline repair calls
    /// it: with the daemon serving, a reservation committed between this batch and the rebuild
    /// would be counted twice.
    pub fn clear_derived(&mut self) {
        for cf in ROW_FAMILIES.into_iter().chain([usage::CF, segments::CF]) {
            let h = self.index.cf(cf);
            self.wb.delete_range_cf(h, &[0u8; 0][..], &[0xffu8; 80][..]);
        }
        self.pending.clear();
        self.pending_reset = true;
    }
}
