//! Segment framing decoders on arbitrary bytes: never panic; a scan stays inside its buffer.
//! Proptest mirror: `store::format::tests::decoders_never_panic`.
#![no_main]
use attachd::store::format::{FileHeader, RecordHeader, Trailer, scan_records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = FileHeader::decode(data);
    let _ = Trailer::decode(data);
    if let Ok(h) = RecordHeader::decode(data) {
        let _ = h.check_payload(data.get(72..).unwrap_or(&[]));
    }
    let s = scan_records(data, 64);
    assert!(s.end >= 64 && s.end <= 64 + data.len() as u64);
});
