//! Arbitrary bytes as a stored attachment record (either version): decoding never panics, and
//! whatever decodes re-encodes to a record that decodes to the same value.
//! Proptest mirror: `index::records::tests::decode_never_panics`.
#![no_main]
use attachd::index::codec::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = decode(data) {
        assert_eq!(decode(&encode(&rec)).as_ref(), Ok(&rec));
    }
});
