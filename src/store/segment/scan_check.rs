//! The recovery-scan properties, shared by the `record_decode` and `segment_tail` fuzz targets
//! and their proptest mirrors below, so a fuzzer and `cargo test` drive exactly the functions
//! recovery and the read path run ([`scan_tail`], [`find_record_after`], [`record_at`],
//! [`verify_record`]) over a byte slice standing in for a segment file.
//!
//! Input is plain bytes; every byte string is a valid case. Each function panics on the first
//! broken property.

use crate::ids::{AttachmentId, Sha256Digest};
use crate::store::format::{FILE_HEADER_LEN, FileHeader, RECORD_HEADER_LEN, RecordHeader, Trailer};

use super::scan::{find_record_after, find_record_after_in_chunks, record_at, scan_tail, verify_record};

/// Arbitrary bytes as a segment file: no decoder panics, the scan stays inside the file and
/// ends on a chain of valid records, and the chunked search finds exactly the first valid
/// record a byte-by-byte search finds, whatever the chunk size.
pub fn arbitrary_bytes(data: &[u8]) {
    let _ = FileHeader::decode(data);
    let _ = Trailer::decode(data);
    let (id, want_len) = (AttachmentId::from_bytes([data.first().copied().unwrap_or(0); 16]), data.len() as u64);
    let _ = verify_record(data, id, want_len.saturating_sub(RECORD_HEADER_LEN as u64));
    let len = data.len() as u64;
    let Ok((used, records)) = scan_tail(data, len) else {
        assert!(data.len() < FILE_HEADER_LEN, "only a file shorter than its header fails to scan");
        return;
    };
    assert!(used >= FILE_HEADER_LEN as u64 && used <= len, "scan ended at {used} of {len}");
    // The scan's end is reached by hopping over exactly `records` valid records.
    let mut at = FILE_HEADER_LEN as u64;
    for _ in 0..records {
        at += record_at(data, at, len).expect("in bounds").expect("a counted record is valid");
    }
    assert_eq!(at, used);
    let chunk = 4 + data.get(1).copied().unwrap_or(0) as usize % 64;
    for from in [0, used] {
        let naive = (from + 1..len).find(|&o| record_at(data, o, len).expect("in bounds").is_some());
        assert_eq!(find_record_after_in_chunks(data, from, len, chunk).expect("in bounds"), naive, "chunk {chunk}");
        assert_eq!(find_record_after(data, from, len).expect("in bounds"), naive);
    }
}

/// What [`build_segment`] laid out.
pub struct Built {
    /// The file bytes.
    pub file: Vec<u8>,
    /// Offset and total length of every whole record written, in order.
    pub whole: Vec<(u64, u64)>,
    /// Where the first piece that is not a whole record starts (the file's end if none).
    pub damage_at: u64,
}

/// Builds a segment file from `data`: a real file header, then pieces chosen byte by byte —
/// whole records, raw junk (which may start with the record marker), and torn records (a whole
/// record cut short).
pub fn build_segment(data: &[u8]) -> Built {
    let mut it = data.iter().copied();
    let mut file = FileHeader { segment: crate::ids::SegmentId(1), capacity: 1 << 20, created_at: 0 }.encode().to_vec();
    let (mut whole, mut damage_at) = (Vec::new(), None);
    let mut n = 0u8;
    while let Some(tag) = it.next() {
        let arg = it.next().unwrap_or(0);
        let at = file.len() as u64;
        match tag % 4 {
            0 | 1 => {
                n = n.wrapping_add(1);
                let payload: Vec<u8> = (0..arg).map(|i| it.next().unwrap_or(i)).collect();
                file.extend_from_slice(&record(n, &payload));
                whole.push((at, file.len() as u64 - at));
            }
            2 => {
                let junk: Vec<u8> = (0..arg % 100).map(|_| it.next().unwrap_or(0)).collect();
                if tag & 0x80 != 0 {
                    file.extend_from_slice(b"ATDR");
                }
                file.extend_from_slice(&junk);
            }
            _ => {
                n = n.wrapping_add(1);
                let r = record(n, &vec![tag; 1 + arg as usize]);
                let cut = it.next().unwrap_or(0) as usize % r.len();
                file.extend_from_slice(&r[..cut]);
            }
        }
        if damage_at.is_none() && whole.last().is_none_or(|&(o, _)| o != at) && file.len() as u64 > at {
            damage_at = Some(at);
        }
    }
    let damage_at = damage_at.unwrap_or(file.len() as u64);
    Built { file, whole, damage_at }
}

fn record(n: u8, payload: &[u8]) -> Vec<u8> {
    let h = RecordHeader {
        id: AttachmentId::from_bytes([n; 16]),
        len: payload.len() as u64,
        sha256: Sha256Digest([n; 32]),
        payload_crc: crc32c::crc32c(payload),
    };
    let mut v = h.encode().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Whole records, junk and torn records in any order, as recovery meets them after a crash:
/// the scan keeps every whole record in front of the first damage, and every whole record
/// written after the damage is found by the search recovery runs before it cuts anything (so
/// such a segment is kept, never cut). Each whole record verifies as the read path checks it.
pub fn valid_prefix_then_anything(data: &[u8]) {
    let Built { file, whole, damage_at } = build_segment(data);
    let len = file.len() as u64;
    let (used, records) = scan_tail(&file[..], len).expect("a file with a header scans");
    assert!(used >= damage_at, "scan ended at {used}, before the damage at {damage_at}");
    if record_at(&file[..], damage_at, len).expect("in bounds").is_none() {
        assert_eq!(used, damage_at, "the scan went past damage that is no record");
    }
    // The scan's end is reached by hopping over exactly `records` valid records.
    let mut at = FILE_HEADER_LEN as u64;
    for _ in 0..records {
        at += record_at(&file[..], at, len).expect("in bounds").expect("a counted record is valid");
    }
    assert_eq!(at, used);
    let in_front = whole.iter().filter(|&&(o, _)| o < damage_at).count() as u64;
    assert!(records >= in_front, "{records} records found, {in_front} whole ones in front of the damage");
    if let Some(&(first_after, _)) = whole.iter().find(|&&(o, _)| o >= used) {
        let next = find_record_after(&file[..], used, len).expect("in bounds");
        assert!(next.is_some_and(|x| x > used && x <= first_after), "record at {first_after} after {used}: {next:?}");
    }
    for &(o, l) in &whole {
        assert_eq!(record_at(&file[..], o, len).expect("in bounds"), Some(l));
        let h = RecordHeader::decode(&file[o as usize..]).expect("whole record");
        verify_record(&file[o as usize..(o + l) as usize], h.id, h.len).expect("verifies");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_program_with_damage_between_records() {
        // record(3 bytes), junk with the marker, record(2 bytes), torn record.
        let b = build_segment(&[0, 3, 1, 2, 3, 0x82, 5, 9, 9, 9, 9, 9, 1, 2, 7, 7, 3, 40, 30]);
        assert_eq!(b.whole.len(), 2);
        assert_eq!(b.damage_at, b.whole[0].0 + b.whole[0].1);
        valid_prefix_then_anything(&[0, 3, 1, 2, 3, 0x82, 5, 9, 9, 9, 9, 9, 1, 2, 7, 7, 3, 40, 30]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        // Mirror of fuzz target `record_decode`.
        #[test]
        fn arbitrary_segment_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            arbitrary_bytes(&bytes);
        }

        // Arbitrary bytes with real records planted in them, so the search has something to find.
        #[test]
        fn arbitrary_bytes_around_records(
            junk in proptest::collection::vec(any::<u8>(), 0..300),
            at in any::<prop::sample::Index>(),
            payload in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut bytes = junk.clone();
            let i = at.index(junk.len() + 1);
            bytes.splice(i..i, record(1, &payload));
            arbitrary_bytes(&bytes);
        }

        // Mirror of fuzz target `segment_tail`.
        #[test]
        fn whole_records_survive_any_damage(program in proptest::collection::vec(any::<u8>(), 0..400)) {
            valid_prefix_then_anything(&program);
        }
    }
}
