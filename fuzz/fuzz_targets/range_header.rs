//! The `Range` parser: never panics; a partial range always lies inside the body.
//! Proptest mirror: `http::range::tests::any_header_gives_a_sane_answer`.
#![no_main]
use attachd::http::range::{RangeSpec, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let size = u64::from_le_bytes(data[..8].try_into().unwrap()) % (1 << 40);
    let Ok(h) = std::str::from_utf8(&data[8..]) else { return };
    if let RangeSpec::Partial { start, end } = parse(Some(h), size) {
        assert!(start < end && end <= size);
    }
});
