//! The store-vs-model property, shared by the `store_model` fuzz target and its proptest
//! mirror: random appends, deletes, compactions, clean restarts, crashes and torn tails are
//! applied to real segment files and to a `BTreeMap`; after every step each live entry of the
//! model must read back from the store byte for byte.
//!
//! Input is plain bytes, decoded into [`Op`]s by [`decode`], so a fuzzer and proptest drive
//! exactly the same code.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::ids::{AttachmentId, Sha256Digest};
use crate::store::io::IoEngine;
use crate::store::io::sync::SyncEngine;

use super::{AppendItem, Placement, SegmentState, Segments};

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Append a batch of records with these payload lengths.
    Append(Vec<u16>),
    /// Forget the n-th live record (its bytes become dead space).
    Delete(u8),
    /// Move the live records out of every sealed segment and remove the segment.
    Compact,
    /// Seal and reopen (a clean restart).
    Restart,
    /// Reopen without sealing (a crash), after writing this many garbage bytes past the last
    /// record of the active segment (a torn write).
    Crash(u16),
}

/// Decodes bytes into operations; every byte string is a valid program.
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut it = data.iter().copied();
    while let Some(tag) = it.next() {
        let arg = it.next().unwrap_or(0);
        ops.push(match tag % 8 {
            0..=2 => {
                let n = (arg % 6) as usize + 1;
                Op::Append(
                    (0..n)
                        .map(|i| u16::from_le_bytes([it.next().unwrap_or(i as u8), it.next().unwrap_or(0) % 64]))
                        .collect(),
                )
            }
            3 | 4 => Op::Delete(arg),
            5 => Op::Compact,
            6 => Op::Restart,
            _ => Op::Crash(u16::from(arg) * 37),
        });
    }
    ops
}

fn payload(id: &AttachmentId, len: usize) -> Vec<u8> {
    let seed = id.as_bytes()[0] as usize;
    (0..len).map(|i| (i.wrapping_mul(31).wrapping_add(seed)) as u8).collect()
}

fn item(id: AttachmentId, bytes: &[u8]) -> AppendItem {
    AppendItem {
        id,
        sha256: Sha256Digest([0; 32]),
        crc: crc32c::crc32c(bytes),
        payload: vec![Bytes::copy_from_slice(bytes)],
    }
}

/// Runs `ops` against segment files in `dir` (capacity `capacity`) and the model; panics on
/// the first divergence.
pub fn run(dir: &Path, capacity: u64, ops: &[Op]) {
    let engine: Arc<dyn IoEngine> = Arc::new(SyncEngine);
    let mut segs = Segments::open(dir, engine.clone(), capacity).expect("open");
    let mut model: BTreeMap<AttachmentId, (Vec<u8>, Placement)> = BTreeMap::new();
    let mut next = 0u64;
    for op in ops {
        match op {
            Op::Append(lens) => {
                let batch: Vec<(AttachmentId, Vec<u8>)> = lens
                    .iter()
                    .map(|&len| {
                        next += 1;
                        let mut b = [0u8; 16];
                        b[..8].copy_from_slice(&next.to_le_bytes());
                        let id = AttachmentId::from_bytes(b);
                        (id, payload(&id, (len as usize) % (capacity as usize / 4)))
                    })
                    .collect();
                let items: Vec<AppendItem> = batch.iter().map(|(id, b)| item(*id, b)).collect();
                let placed = segs.append_batch(&items).expect("append");
                for ((id, b), p) in batch.into_iter().zip(placed) {
                    model.insert(id, (b, p));
                }
            }
            Op::Delete(n) => {
                if !model.is_empty() {
                    let k = *model.keys().nth(*n as usize % model.len()).expect("in range");
                    model.remove(&k);
                }
            }
            Op::Compact => {
                for s in segs.list().into_iter().filter(|s| s.state == SegmentState::Sealed) {
                    let moving: Vec<(AttachmentId, Vec<u8>)> = model
                        .iter()
                        .filter(|(_, (_, p))| p.segment == s.id)
                        .map(|(id, (b, _))| (*id, b.clone()))
                        .collect();
                    let items: Vec<AppendItem> = moving.iter().map(|(id, b)| item(*id, b)).collect();
                    let placed = segs.append_batch(&items).expect("relocate");
                    for ((id, _), p) in moving.into_iter().zip(placed) {
                        model.get_mut(&id).expect("live").1 = p;
                    }
                    if segs.active_id() != Some(s.id) {
                        segs.remove(s.id).expect("remove compacted segment");
                    }
                }
            }
            Op::Restart => {
                segs.seal_active().expect("seal");
                drop(segs);
                segs = Segments::open(dir, engine.clone(), capacity).expect("reopen");
            }
            Op::Crash(garbage) => {
                if let Some(active) = segs.list().into_iter().find(|s| s.state == SegmentState::Active) {
                    use std::os::unix::fs::FileExt;
                    let f = std::fs::File::options().write(true).open(segs.path_of(active.id)).expect("open active");
                    let junk: Vec<u8> = (0..*garbage).map(|i| (i as u8).wrapping_mul(13) | 1).collect();
                    let room = capacity.saturating_sub(active.used + 64);
                    let junk = &junk[..(junk.len() as u64).min(room) as usize];
                    f.write_all_at(junk, active.used).expect("tear the tail");
                }
                drop(segs);
                segs = Segments::open(dir, engine.clone(), capacity).expect("recover");
            }
        }
        for (id, (bytes, p)) in &model {
            let got = segs.read(p.segment, p.offset, *id, p.len).unwrap_or_else(|e| panic!("{id} after {op:?}: {e}"));
            assert!(got[..] == bytes[..], "{id} after {op:?}: wrong bytes");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_scripted_program() {
        let dir = tempfile::tempdir().unwrap();
        let ops = vec![
            Op::Append(vec![100, 2000, 0]),
            Op::Crash(500),
            Op::Append(vec![30000; 3]),
            Op::Delete(0),
            Op::Compact,
            Op::Restart,
            Op::Append(vec![5]),
            Op::Crash(0),
        ];
        run(dir.path(), 64 * 1024, &ops);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        // Mirror of fuzz target `store_model`.
        #[test]
        fn store_matches_the_model(program in proptest::collection::vec(any::<u8>(), 0..120)) {
            let dir = tempfile::tempdir().unwrap();
            run(dir.path(), 64 * 1024, &decode(&program));
        }
    }
}
