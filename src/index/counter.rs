//! Counters as RocksDB merge operands: a value is two little-endian `i64`s, `(bytes, count)`,
//! and merging adds them. Deltas from concurrent writers therefore compose without a
//! read-modify-write; readers see the sum.
//!
//! ```text
//! value:  0        8        16
//!         | bytes  | count  |     i64 LE each
//! ```

pub use crate::model::Counter;

/// The stored form of a counter.
pub trait CounterCodec: Sized {
    /// The 16-byte encoding.
    fn encode(&self) -> [u8; 16];
    /// Decodes; anything that is not exactly 16 bytes is `None`.
    fn decode(b: &[u8]) -> Option<Self>;
}

impl CounterCodec for Counter {
    fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.bytes.to_le_bytes());
        b[8..].copy_from_slice(&self.count.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 16 {
            return None;
        }
        Some(Self {
            bytes: i64::from_le_bytes(b[..8].try_into().ok()?),
            count: i64::from_le_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// The merge operator: sums the existing value and every operand. Undecodable inputs are
/// skipped (logged), never allowed to poison the counter.
pub fn merge_add(_key: &[u8], existing: Option<&[u8]>, operands: &rocksdb::MergeOperands) -> Option<Vec<u8>> {
    let mut acc = existing.and_then(Counter::decode).unwrap_or_default();
    for op in operands.iter() {
        match Counter::decode(op) {
            Some(d) => {
                acc.bytes = acc.bytes.wrapping_add(d.bytes);
                acc.count = acc.count.wrapping_add(d.count);
            }
            None => tracing::error!(len = op.len(), "skipping an undecodable counter operand"),
        }
    }
    Some(acc.encode().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_round_trip() {
        let c = Counter::delta(-5, 3);
        assert_eq!(Counter::decode(&c.encode()), Some(c));
        assert_eq!(Counter::decode(&[1, 2, 3]), None);
        assert_eq!(Counter::delta(-5, -1).bytes_u64(), 0);
    }
}
