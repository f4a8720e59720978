//! The download token parser and verifier: any string is refused (or, only for a token this
//! signer made, accepted), never a panic.
//! Proptest mirror: `service::token::tests::arbitrary_tokens_never_verify`.
#![no_main]
use attachd::service::token::{TokenSigner, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = parse(s);
    let signer = TokenSigner::new(b"fuzz");
    assert!(signer.verify(s, 0).is_err(), "a token the signer never made verified: {s:?}");
});
