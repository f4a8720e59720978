//! The store-vs-model property, shared by the `store_model` fuzz target and its proptest
//! mirror: random appends, deletes, compactions, clean restarts, crashes and torn tails are
//! applied to real segment files and to a `BTreeMap`; after every step each live entry of the
//! model must read back from the store byte for byte.
//!
//! A crash leaves [`Junk`] past the last acknowledged record of the active segment: garbage,
//! the record marker in front of garbage, a torn record, whole records that were never
//! acknowledged, or damage followed by a whole record. Recovery must cut the first three,
//! keep the fourth, and keep the segment read-only (damaged) for the last; [`run`] checks
//! which path recovery took and counts them in [`Reached`], so a test can assert every path
//! was exercised.
//!
//! Input is plain bytes, decoded into [`Op`]s by [`decode`], so a fuzzer and proptest drive
//! exactly the same code.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::ids::{AttachmentId, Sha256Digest};
use crate::store::format::{RecordHeader, TRAILER_LEN};
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
    /// Reopen without sealing (a crash), after writing this junk past the last record of the
    /// active segment.
    Crash(Junk),
}

/// What a crash leaves behind the last acknowledged record of the active segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Junk {
    /// Arbitrary bytes (zeros included).
    Garbage(u16),
    /// The record marker `ATDR`, then arbitrary bytes: a header that cannot verify.
    Marker(u16),
    /// A record cut short after this many bytes (its write was torn by the crash).
    Torn(u16),
    /// Whole records of these payload lengths, written but never acknowledged.
    Whole(Vec<u16>),
    /// This many garbage bytes (at least one), then a whole record of this payload length:
    /// damage followed by a valid record, which recovery must keep instead of cutting.
    DamageThenRecord(u16, u16),
}

/// How often each recovery path was taken in a [`run`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Crashes that left junk which recovery cut off.
    pub cut: u64,
    /// Crashes that left whole unacknowledged records, which recovery kept.
    pub kept_whole: u64,
    /// Crashes that left damage before a valid record: segment kept read-only (damaged).
    pub damaged: u64,
}

impl Reached {
    /// Adds another run's counts.
    pub fn add(&mut self, o: Reached) {
        self.cut += o.cut;
        self.kept_whole += o.kept_whole;
        self.damaged += o.damaged;
    }
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
            _ => {
                let n = u16::from(it.next().unwrap_or(0)) * 37;
                Op::Crash(match arg % 6 {
                    0 => Junk::Garbage(n),
                    1 => Junk::Marker(n),
                    2 => Junk::Torn(n),
                    3 => Junk::Whole((0..=arg % 3).map(|i| n / (u16::from(i) + 1)).collect()),
                    _ => Junk::DamageThenRecord(1 + u16::from(arg) % 50, n),
                })
            }
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
/// the first divergence, or when recovery takes another path than the junk calls for.
pub fn run(dir: &Path, capacity: u64, ops: &[Op]) -> Reached {
    let mut reached = Reached::default();
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
            Op::Crash(junk) => {
                let active = segs.list().into_iter().find(|s| s.state == SegmentState::Active);
                let expect = active.map(|a| {
                    let room = capacity.saturating_sub(a.used + TRAILER_LEN as u64);
                    let (bytes, expect) = lay_out(junk, a.used, room);
                    use std::os::unix::fs::FileExt;
                    let f = std::fs::File::options().write(true).open(segs.path_of(a.id)).expect("open active");
                    f.write_all_at(&bytes, a.used).expect("write the junk");
                    (a, expect)
                });
                drop(segs);
                segs = Segments::open(dir, engine.clone(), capacity).expect("recover");
                if let Some((before, expect)) = expect {
                    let got = segs.list().into_iter().find(|s| s.id == before.id).expect("the crashed segment is kept");
                    assert_eq!((got.state, got.used), expect, "recovery of segment {} after {op:?}", before.id);
                    match expect {
                        (SegmentState::Damaged, _) => reached.damaged += 1,
                        (_, used) if used > before.used => reached.kept_whole += 1,
                        _ => reached.cut += 1,
                    }
                }
            }
        }
        for (id, (bytes, p)) in &model {
            let got = segs.read(p.segment, p.offset, *id, p.len).unwrap_or_else(|e| panic!("{id} after {op:?}: {e}"));
            assert!(got[..] == bytes[..], "{id} after {op:?}: wrong bytes");
        }
    }
    reached
}

/// The bytes `junk` puts at `used` (at most `room` of them), and the state and used bytes
/// recovery must then report for the segment.
fn lay_out(junk: &Junk, used: u64, room: u64) -> (Vec<u8>, (SegmentState, u64)) {
    let garbage = |n: u16, seed: u64| crate::xorshift::XorShift64::new(seed).bytes(n as usize);
    let mut next_junk_id = 0u8;
    let mut record = |len: u16, fill: u8| -> Vec<u8> {
        next_junk_id += 1;
        let mut b = [0xffu8; 16];
        b[0] = next_junk_id;
        let body = vec![fill; len as usize];
        let h = RecordHeader {
            id: AttachmentId::from_bytes(b),
            len: body.len() as u64,
            sha256: Sha256Digest([0; 32]),
            payload_crc: crc32c::crc32c(&body),
        };
        let mut v = h.encode().to_vec();
        v.extend_from_slice(&body);
        v
    };
    let fits = |v: &Vec<u8>| v.len() as u64 <= room;
    let cut = |mut v: Vec<u8>| {
        v.truncate(room as usize);
        (v, (SegmentState::Sealed, used))
    };
    match junk {
        Junk::Garbage(n) => cut(garbage(*n, used)),
        Junk::Marker(n) => cut([b"ATDR".to_vec(), garbage(*n, used)].concat()),
        Junk::Torn(n) => {
            // A non-zero payload, so the unwritten (zero) rest can never match its CRC.
            let whole = record(1 + *n, 0xa5);
            let keep = (*n as usize % whole.len()).max(1);
            cut(whole[..keep].to_vec())
        }
        Junk::Whole(lens) => {
            let mut v = Vec::new();
            for &len in lens {
                let r = record(len, len as u8);
                if fits(&[v.clone(), r.clone()].concat()) {
                    v.extend_from_slice(&r);
                }
            }
            let end = used + v.len() as u64;
            (v, (SegmentState::Sealed, end))
        }
        Junk::DamageThenRecord(g, len) => {
            let v = [garbage(*g, used), record(*len, 0x5a)].concat();
            if fits(&v) { (v, (SegmentState::Damaged, used)) } else { cut(garbage(*g, used)) }
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
            Op::Crash(Junk::Garbage(500)),
            Op::Append(vec![30000; 3]),
            Op::Delete(0),
            Op::Compact,
            Op::Restart,
            Op::Append(vec![5]),
            Op::Crash(Junk::Marker(0)),
            Op::Append(vec![7, 8]),
            Op::Crash(Junk::Torn(300)),
            Op::Append(vec![9]),
            Op::Crash(Junk::Whole(vec![10, 0, 20])),
            Op::Append(vec![11, 12]),
            Op::Crash(Junk::DamageThenRecord(3, 40)),
            Op::Restart,
            Op::Compact,
            Op::Append(vec![13]),
            Op::Crash(Junk::DamageThenRecord(1, 0)),
        ];
        let reached = run(dir.path(), 64 * 1024, &ops);
        assert_eq!(reached, Reached { cut: 3, kept_whole: 1, damaged: 2 });
    }

    /// Mirror of fuzz target `store_model`. A hand-driven runner, so the recovery paths the
    /// programs reached can be counted over all cases: each must be reached, or the property
    /// says nothing about it.
    #[test]
    fn store_matches_the_model() {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
        let total = std::cell::Cell::new(Reached::default());
        runner
            .run(&proptest::collection::vec(any::<u8>(), 0..120), |program| {
                let dir = tempfile::tempdir().unwrap();
                let mut t = total.get();
                t.add(run(dir.path(), 64 * 1024, &decode(&program)));
                total.set(t);
                Ok(())
            })
            .unwrap();
        let t = total.get();
        eprintln!("store_matches_the_model reached {t:?}");
        assert!(t.cut > 0 && t.kept_whole > 0 && t.damaged > 0, "a recovery path was never reached: {t:?}");
    }
}
