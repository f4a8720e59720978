//! Recovery of an arbitrary segment tail: whole records followed by any bytes scan back to at
//! least the whole records, each decoded as written.
//! Proptest mirror: `store::format::tests::valid_prefix_survives_garbage_tail`.
#![no_main]
use attachd::ids::{AttachmentId, Sha256Digest};
use attachd::store::format::{RecordHeader, scan_records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte: how many records (0–7) to build from the next bytes; the rest is the tail.
    let n = data.first().copied().unwrap_or(0) % 8;
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut body = Vec::new();
    let mut lens = Vec::new();
    for i in 0..n {
        let len = rest.first().copied().unwrap_or(0) as usize;
        let payload: Vec<u8> = rest.iter().copied().cycle().take(len).collect();
        rest = rest.get(1..).unwrap_or(&[]);
        let h = RecordHeader {
            id: AttachmentId::from_bytes([i; 16]),
            len: payload.len() as u64,
            sha256: Sha256Digest([i; 32]),
            payload_crc: crc32c::crc32c(&payload),
        };
        body.extend_from_slice(&h.encode());
        body.extend_from_slice(&payload);
        lens.push(payload.len() as u64);
    }
    let prefix = body.len() as u64;
    body.extend_from_slice(rest);
    let s = scan_records(&body, 64);
    assert!(s.end >= 64 + prefix);
    for (i, len) in lens.iter().enumerate() {
        assert_eq!(s.records[i].1.len, *len);
        assert_eq!(s.records[i].1.id, AttachmentId::from_bytes([i as u8; 16]));
    }
});
