//! Multipart form parsing as the upload APIs read forms: arbitrary bytes, cut into arbitrary
//! chunks, are read part by part (file names cleaned, every part to its end) or refused with a
//! client error; never a panic, and a kept file name is never a path nor carries control
//! characters. The first byte picks the chunk size.
//! Proptest mirror: `frontend::files::form_tests::arbitrary_forms_never_panic`.
#![no_main]
use attachd::frontend::files::read_all;
use attachd::http::multipart::form_of;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, body)) = data.split_first() else { return };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let form = form_of(body.to_vec(), chunk as usize + 1, "XyZ", &["file", "comment_id"], 1 << 20);
    match rt.block_on(read_all(form)) {
        Err(e) => assert!(attachd::frontend::errors::reply(&e).status.is_client_error(), "{e:?}"),
        Ok(parts) => {
            for p in parts {
                if let Some(f) = p.file_name {
                    assert!(!f.contains(['/', '\\']) && !f.chars().any(char::is_control) && f.len() <= 255, "{f:?}");
                }
            }
        }
    }
});
