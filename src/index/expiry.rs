//! Column family `expiry`: pending reservations by the time they lapse.
//!
//! ```text
//! key:    0                    8                24
//!         | expires_at µs (BE) | attachment id  |
//! value:  empty
//! ```
//! A row exists exactly while its record is pending (reserved, not uploaded, not deleted). The
//! reservation sweeper scans from the start up to `now` and releases what it finds.

use crate::clock::Timestamp;
use crate::ids::AttachmentId;

use super::{AttachmentRecord, Batch, Index, IndexError};

/// Column family name.
pub const CF: &str = "expiry";

fn key(t: Timestamp, id: AttachmentId) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&t.0.to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

/// Scans a `time | id` keyed family up to (not including) `before`.
pub(crate) fn due(
    index: &Index,
    cf: &'static str,
    before: Timestamp,
    limit: usize,
) -> Result<Vec<(Timestamp, AttachmentId)>, IndexError> {
    let mut out = Vec::new();
    for r in index.scan_prefix(cf, Vec::new(), &[]) {
        let (k, _) = r?;
        let t = Timestamp(u64::from_be_bytes(
            k.get(..8).and_then(|b| b.try_into().ok()).ok_or(IndexError::Corrupt { cf, what: "short key".into() })?,
        ));
        if t >= before || out.len() >= limit {
            break;
        }
        let id = AttachmentId::from_slice(&k[8..]).ok_or(IndexError::Corrupt { cf, what: "short key".into() })?;
        out.push((t, id));
    }
    Ok(out)
}

impl Index {
    /// Up to `limit` reservations that lapsed before `now`, oldest first.
    pub fn expired_reservations(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, AttachmentId)>, IndexError> {
        due(self, CF, now, limit)
    }

    /// Pending reservations (for metrics): counts rows, stopping at `cap`.
    pub fn pending_reservations(&self, cap: usize) -> Result<usize, IndexError> {
        Ok(due(self, CF, Timestamp(u64::MAX), cap)?.len())
    }
}

impl Batch<'_> {
    /// Records that `rec` is pending until its `expires_at`.
    pub fn put_expiry(&mut self, rec: &AttachmentRecord) {
        self.put(CF, &key(rec.expires_at, rec.id), &[]);
    }

    /// Removes `rec`'s pending row (uploaded, deleted or released).
    pub fn delete_expiry(&mut self, rec: &AttachmentRecord) {
        self.delete(CF, &key(rec.expires_at, rec.id));
    }
}
