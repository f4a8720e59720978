//! Column family `segments`: live bytes and records per segment, for compaction.
//!
//! ```text
//! key:    0                 8
//!         | segment id (BE) |
//! value:  counter (live payload+header bytes i64 LE, live records i64 LE), merged by addition
//! ```
//! A record adds to its segment's counter when the upload that wrote it commits and subtracts
//! when it is reclaimed or moved by compaction, in the same batch as the record change.

use crate::ids::SegmentId;

use super::counter::{Counter, CounterCodec};
use super::{Batch, IndexError, Reads};

/// Column family name.
pub const CF: &str = "segments";

/// Bytes a segment record takes besides its payload (the store's record header; the store
/// checks at compile time that its header is this long).
pub const RECORD_OVERHEAD: u64 = 72;

/// Reads of the `segments` family, live or from a [`super::Snapshot`].
pub trait SegmentReads: Reads {
    /// Live bytes/records of one segment.
    fn segment_live(&self, s: SegmentId) -> Result<Counter, IndexError> {
        match self.get_cf(CF, &s.0.to_be_bytes())? {
            None => Ok(Counter::default()),
            Some(v) => Counter::decode(&v).ok_or(IndexError::Corrupt { cf: CF, what: "counter".into() }),
        }
    }

    /// Every segment counter.
    fn segment_counters(&self) -> Result<Vec<(SegmentId, Counter)>, IndexError> {
        self.scan_prefix(CF, Vec::new(), &[])
            .map(|r| {
                let (k, v) = r?;
                let id = k.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
                match (id, Counter::decode(&v)) {
                    (Some(id), Some(c)) => Ok((SegmentId(id), c)),
                    _ => Err(IndexError::Corrupt { cf: CF, what: "segment counter".into() }),
                }
            })
            .collect()
    }
}

impl<T: Reads + ?Sized> SegmentReads for T {}

impl Batch<'_> {
    /// Adds `bytes` (and `records`) to a segment's live counter (negative to subtract).
    pub fn add_segment_live(&mut self, s: SegmentId, bytes: i64, records: i64) {
        self.merge(CF, &s.0.to_be_bytes(), &Counter::delta(bytes, records).encode());
    }

    /// Forgets a segment (after its file is removed), or overwrites it (fsck --repair).
    pub fn set_segment_live(&mut self, s: SegmentId, c: Option<Counter>) {
        match c {
            Some(c) => self.put(CF, &s.0.to_be_bytes(), &c.encode()),
            None => self.delete(CF, &s.0.to_be_bytes()),
        }
    }
}
