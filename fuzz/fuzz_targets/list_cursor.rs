//! List cursors and `limit` parsing on arbitrary strings: never panic; `limit` stays in 1..=200.
//! Proptest mirror: `frontend::events::listing::tests::arbitrary_cursors_never_panic`.
#![no_main]
use attachd::frontend::events::listing::{decode_cursor, parse_limit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = decode_cursor(s);
    let l = parse_limit(Some(s));
    assert!((1..=200).contains(&l));
});
