//! The upload token parser and verifier: any string is refused, never a panic; a token this
//! signer made verifies as exactly the grant it was made for.
//! Proptest mirrors: `service::upload_token::tests::arbitrary_tokens_never_panic_or_verify` and
//! `…::every_grant_round_trips`.
#![no_main]
use attachd::ids::AttachmentId;
use attachd::service::upload_token::{UploadGrant, UploadSigner, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signer = UploadSigner::new(b"fuzz");
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse(s);
        assert!(signer.verify(s, 0).is_err(), "a token the signer never made verified: {s:?}");
    }
    if data.len() >= 32 {
        let id = AttachmentId::from_bytes(data[..16].try_into().unwrap());
        let exp = u64::from_le_bytes(data[16..24].try_into().unwrap());
        let max = u64::from_le_bytes(data[24..32].try_into().unwrap());
        let grant = UploadGrant { file: id, expires_unix: exp, max_bytes: max };
        assert_eq!(signer.verify(&signer.sign(grant), 0), Ok(grant));
    }
});
