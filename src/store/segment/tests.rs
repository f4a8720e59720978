//! Segment tests, run against both io engines.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::ids::{AttachmentId, Sha256Digest};
use crate::store::format::{FILE_HEADER_LEN, RECORD_HEADER_LEN};
use crate::store::io::{IoEngine, sync::SyncEngine, uring::UringEngine};

fn engines() -> Vec<Arc<dyn IoEngine>> {
    let mut v: Vec<Arc<dyn IoEngine>> = vec![Arc::new(SyncEngine)];
    match UringEngine::start() {
        Ok(e) => v.push(Arc::new(e)),
        Err(e) => eprintln!("SKIP uring engine: {e}"),
    }
    v
}

fn item(n: u8, len: usize) -> AppendItem {
    let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(n)).collect();
    AppendItem {
        id: AttachmentId::from_bytes([n; 16]),
        sha256: Sha256Digest([n; 32]),
        crc: crc32c::crc32c(&data),
        payload: data.chunks(100).map(Bytes::copy_from_slice).collect(),
    }
}

fn payload_of(it: &AppendItem) -> Vec<u8> {
    it.payload.iter().flat_map(|b| b.iter().copied()).collect()
}

#[test]
fn append_then_read_back_verified() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let segs = Segments::open(dir.path(), engine.clone(), 1 << 20).unwrap();
        let items: Vec<AppendItem> = (1..=5).map(|n| item(n, 1000 * n as usize)).collect();
        let placed = segs.append_batch(&items).unwrap();
        for (it, p) in items.iter().zip(&placed) {
            let got = segs.read(p.segment, p.offset, it.id, p.len).unwrap();
            assert_eq!(&got[..], &payload_of(it)[..], "engine {}", engine.name());
        }
        // The wrong id at a real offset is an error, not someone else's bytes.
        assert!(segs.read(placed[0].segment, placed[0].offset, items[1].id, placed[0].len).is_err());
    }
}

#[test]
fn rolls_to_a_new_segment_when_full_and_seals_the_old() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let segs = Segments::open(dir.path(), engine, 1 << 20).unwrap();
        let items: Vec<AppendItem> = (1..=12).map(|n| item(n, 200_000)).collect();
        let placed = segs.append_batch(&items).unwrap();
        let ids: std::collections::BTreeSet<_> = placed.iter().map(|p| p.segment).collect();
        assert!(ids.len() >= 3);
        let list = segs.list();
        assert_eq!(list.iter().filter(|s| s.state == SegmentState::Active).count(), 1);
        assert!(list.iter().filter(|s| s.state == SegmentState::Sealed).count() >= 2);
        for (it, p) in items.iter().zip(&placed) {
            assert_eq!(&segs.read(p.segment, p.offset, it.id, p.len).unwrap()[..], &payload_of(it)[..]);
        }
    }
}

#[test]
fn reopen_cuts_a_torn_tail_and_keeps_every_synced_record() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let (placed, items, seg_id) = {
            let segs = Segments::open(dir.path(), engine.clone(), 1 << 20).unwrap();
            let items: Vec<AppendItem> = (1..=3).map(|n| item(n, 5000)).collect();
            let placed = segs.append_batch(&items).unwrap();
            let seg_id = placed[0].segment;
            // Simulate a crash in the middle of the next record: a header and half a payload.
            let torn = item(9, 5000);
            let header = crate::store::format::RecordHeader {
                id: torn.id,
                len: torn.len(),
                sha256: torn.sha256,
                payload_crc: torn.crc,
            };
            let f = std::fs::File::options().write(true).open(segs.path_of(seg_id)).unwrap();
            let end = placed[2].offset + RECORD_HEADER_LEN as u64 + placed[2].len;
            f.write_all_at(&header.encode(), end).unwrap();
            f.write_all_at(&payload_of(&torn)[..2500], end + RECORD_HEADER_LEN as u64).unwrap();
            (placed, items, seg_id)
        };
        let segs = Segments::open(dir.path(), engine.clone(), 1 << 20).unwrap();
        let info = segs.list().into_iter().find(|s| s.id == seg_id).unwrap();
        assert_eq!(info.state, SegmentState::Sealed);
        assert_eq!(info.used, placed[2].offset + RECORD_HEADER_LEN as u64 + placed[2].len);
        for (it, p) in items.iter().zip(&placed) {
            assert_eq!(&segs.read(p.segment, p.offset, it.id, p.len).unwrap()[..], &payload_of(it)[..]);
        }
        assert_eq!(segs.record_headers(seg_id).unwrap().len(), 3);
        // New appends go to a new segment; reopening again changes nothing.
        let more = segs.append_batch(&[item(4, 10)]).unwrap();
        assert!(more[0].segment > seg_id);
        drop(segs);
        let again = Segments::open(dir.path(), engine, 1 << 20).unwrap();
        assert_eq!(again.list().len(), 2);
    }
}

#[test]
fn a_flipped_byte_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
    let it = item(3, 4000);
    let p = segs.append_batch(std::slice::from_ref(&it)).unwrap()[0];
    let f = std::fs::File::options().read(true).write(true).open(segs.path_of(p.segment)).unwrap();
    let at = p.offset + RECORD_HEADER_LEN as u64 + 100;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
    assert!(matches!(segs.read(p.segment, p.offset, it.id, p.len), Err(crate::store::StoreError::Corrupt(_))));
}

#[test]
fn an_unwritten_segment_is_removed_and_ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(format!("{}.seg", crate::ids::SegmentId(7))), vec![0u8; 4096]).unwrap();
    let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
    assert!(segs.list().is_empty());
    let p = segs.append_batch(&[item(1, 10)]).unwrap();
    assert_eq!(p[0].segment.0, 8);
    assert_eq!(p[0].offset, FILE_HEADER_LEN as u64);
}

#[test]
fn a_zeroed_header_in_front_of_records_is_moved_aside_not_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = {
        let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
        let placed = segs.append_batch(&[item(1, 3000), item(2, 3000)]).unwrap();
        let path = segs.path_of(placed[0].segment);
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.write_all_at(&[0u8; FILE_HEADER_LEN], 0).unwrap();
        path
    };
    let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
    assert!(segs.list().is_empty());
    assert!(!path.exists());
    assert!(path.with_extension("corrupt").exists(), "acknowledged records are kept for an operator");
}

#[test]
fn damage_followed_by_valid_records_is_kept_not_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (placed, items) = {
        let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
        let items: Vec<AppendItem> = (1..=3).map(|n| item(n, 3000)).collect();
        let placed = segs.append_batch(&items).unwrap();
        // Flip a byte inside the second record's payload: bit rot, not a torn tail.
        let f = std::fs::File::options().read(true).write(true).open(segs.path_of(placed[1].segment)).unwrap();
        let at = placed[1].offset + RECORD_HEADER_LEN as u64 + 10;
        f.write_all_at(&[0xff], at).unwrap();
        (placed, items)
    };
    let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
    let info = segs.list()[0];
    assert_eq!(info.state, SegmentState::Damaged, "kept read-only, not sealed");
    // The records around the damage are intact and readable; the damaged one fails loudly.
    let p = placed[0];
    assert_eq!(&segs.read(p.segment, p.offset, items[0].id, p.len).unwrap()[..], &payload_of(&items[0])[..]);
    let p = placed[2];
    assert_eq!(&segs.read(p.segment, p.offset, items[2].id, p.len).unwrap()[..], &payload_of(&items[2])[..]);
    let p = placed[1];
    assert!(matches!(segs.read(p.segment, p.offset, items[1].id, p.len), Err(crate::store::StoreError::Corrupt(_))));
}

#[test]
fn segment_numbers_are_not_reused_after_the_newest_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let removed = {
        let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
        let p = segs.append_batch(&[item(1, 10)]).unwrap()[0];
        segs.seal_active().unwrap();
        segs.remove(p.segment).unwrap();
        p.segment
    };
    let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
    assert!(segs.list().is_empty());
    let p = segs.append_batch(&[item(2, 10)]).unwrap()[0];
    assert!(p.segment > removed, "{:?} reused", p.segment);
}

#[test]
fn a_failed_sync_retires_the_segment_and_nothing_is_acknowledged_on_top_of_it() {
    use crate::store::io::fault::{FaultPlan, FaultyEngine};
    let dir = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyEngine::new(Arc::new(SyncEngine)));
    let segs = Segments::open(dir.path(), faulty.clone(), 1 << 20).unwrap();
    let first = segs.append_batch(&[item(1, 500)]).unwrap()[0];
    faulty.plan(FaultPlan { fail_syncs: 1, ..Default::default() });
    assert!(segs.append_batch(&[item(2, 500)]).is_err(), "the failed sync is reported");
    // The retry must not land in the segment whose write-back failed.
    let again = item(2, 500);
    let p = segs.append_batch(std::slice::from_ref(&again)).unwrap()[0];
    assert_ne!(p.segment, first.segment);
    assert_eq!(&segs.read(p.segment, p.offset, again.id, p.len).unwrap()[..], &payload_of(&again)[..]);
    assert_eq!(
        &segs.read(first.segment, first.offset, item(1, 500).id, first.len).unwrap()[..],
        &payload_of(&item(1, 500))[..]
    );
    // Failed writes and ENOSPC behave the same way, and reopening keeps every acknowledged record.
    faulty.plan(FaultPlan { fail_writes: 1, no_space: 0, ..Default::default() });
    assert!(segs.append_batch(&[item(3, 500), item(4, 500)]).is_err());
    faulty.plan(FaultPlan { no_space: 1, ..Default::default() });
    assert!(matches!(segs.append_batch(&[item(5, 500)]), Err(crate::store::StoreError::NoSpace { .. })));
    let last = item(6, 500);
    let q = segs.append_batch(std::slice::from_ref(&last)).unwrap()[0];
    drop(segs);
    let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
    for (pl, it) in [(first, item(1, 500)), (p, again), (q, last)] {
        assert_eq!(&segs.read(pl.segment, pl.offset, it.id, pl.len).unwrap()[..], &payload_of(&it)[..]);
    }
}
