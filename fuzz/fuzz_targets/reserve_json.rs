//! Reserve request validation on arbitrary JSON: accepted or refused, never a panic; what is
//! accepted is within the documented bounds.
//! Proptest mirrors: `frontend::events::reserve::tests::arbitrary_json_never_panics`,
//! `arbitrary_field_values_never_panic`.
#![no_main]
use attachd::frontend::events::reserve::{MAX_CONTENT_TYPE_LEN, MAX_FILENAME_LEN, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if let Ok(r) = parse(&v) {
        assert!(r.size_bytes > 0);
        assert!(r.content_type.len() <= MAX_CONTENT_TYPE_LEN);
        assert!(r.original_filename.encode_utf16().count() <= MAX_FILENAME_LEN);
    }
});
