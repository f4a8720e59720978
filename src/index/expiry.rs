//! Column family `expiry`: pending reservations by the time they lapse.
//!
//! ```text
//! key:    0                    8                24
//!         | expires_at µs (BE) | attachment id  |
//! value:  0            16                  24
//!         | project id | declared size (BE) |     (empty in rows written before 0.3: the
//!                                                    record is read instead)
//! ```
//! A row exists exactly while its record is pending (reserved, not uploaded, not deleted). The
//! reservation sweeper scans from the start up to `now` and releases what it finds. Each row
//! also counts in the in-memory per-project totals (`pending.rs`), which the value rebuilds at
//! open without reading the records.

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, ProjectId};

use super::pending::PendingDelta;
use super::records::RecordReads;
use super::{Batch, Index, IndexError};
use crate::model::Attachment;

/// Column family name.
pub const CF: &str = "expiry";

/// A `time ‖ id` key (this family's, and every family keyed by a time then an attachment).
pub(crate) fn key(t: Timestamp, id: AttachmentId) -> [u8; 24] {
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

    /// One delta per `expiry` row: the totals `pending.rs` starts from at open.
    pub(crate) fn pending_rows(&self) -> Result<Vec<PendingDelta>, IndexError> {
        let mut out = Vec::new();
        for r in self.scan_prefix(CF, Vec::new(), &[]) {
            let (k, v) = r?;
            let (project, bytes) = match (ProjectId::from_slice(v.get(..16).unwrap_or(&[])), v.get(16..24)) {
                (Some(p), Some(size)) => (p, u64::from_be_bytes(size.try_into().expect("8 bytes"))),
                _ => {
                    let id = AttachmentId::from_slice(k.get(8..).unwrap_or(&[]))
                        .ok_or(IndexError::Corrupt { cf: CF, what: "short key".into() })?;
                    match self.record(id)? {
                        Some(rec) => (rec.project_id, rec.size_bytes),
                        None => continue, // a dangling row: fsck reports it
                    }
                }
            };
            out.push(PendingDelta { project, count: 1, bytes: bytes as i128 });
        }
        Ok(out)
    }
}

pub(super) fn delta(rec: &Attachment, sign: i64) -> PendingDelta {
    PendingDelta { project: rec.project_id, count: sign, bytes: sign as i128 * rec.size_bytes as i128 }
}

impl Batch<'_> {
    /// Records that `rec` is pending until its `expires_at` (the pending totals are adjusted
    /// by [`Batch::transition`], which writes this row).
    pub(super) fn put_expiry(&mut self, rec: &Attachment) {
        let mut v = [0u8; 24];
        v[..16].copy_from_slice(rec.project_id.as_bytes());
        v[16..].copy_from_slice(&rec.size_bytes.to_be_bytes());
        self.put(CF, &key(rec.expires_at, rec.id), &v);
    }
}
