//! The names the upload APIs take from clients: path segments of the product/ticket and
//! session-point routes, file names, and a file's first bytes against the type allowlist.
//! Never a panic; a routed id is never empty, over its bound or carrying control characters (a
//! session id never a `/`); a cleaned file name is never a path.
//! Proptest mirror: `frontend::files::tests::arbitrary_names_and_paths`.
#![no_main]
use attachd::frontend::files::check_names;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Err(why) = check_names(&s, data) {
        panic!("{why}: {s:?}");
    }
});
