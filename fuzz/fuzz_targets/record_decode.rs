//! Arbitrary bytes as a segment file, through what recovery and reads run: the file header,
//! trailer and record decoders, `scan_tail`, `find_record_after` (against a byte-by-byte
//! search, with small chunks) and `verify_record`. Never a panic; the scan stays in the file.
//! Proptest mirror: `store::segment::scan_check::tests::arbitrary_segment_bytes`.
#![no_main]
use attachd::store::segment::scan_check::arbitrary_bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| arbitrary_bytes(data));
