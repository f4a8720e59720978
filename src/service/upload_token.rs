//! Signed upload URLs' tokens: `u1.<file_id>.<expires_unix_s>.<max_bytes>.<hex HMAC-SHA256>`.
//!
//! The MAC covers `"upload:PUT:<file_id>:<expires_unix_s>:<max_bytes>"` — the purpose, the
//! method, the file, the expiry and the size limit — under a key derived from the signing
//! secret for this purpose alone, and is checked in constant time (`ring::hmac::verify`).
//! A download token (`<id>.<expires>.<mac>`, another key, another message) never parses or
//! verifies as an upload token, nor the reverse; a token names one file, so replaying it
//! for another file fails its MAC. A token is valid through its expiry second. It may be
//! presented more than once, but the file takes one body: the second PUT finds it uploaded.

use ring::hmac;

use crate::ids::AttachmentId;

/// Issues and checks upload tokens.
pub struct UploadSigner {
    key: hmac::Key,
}

/// What a valid upload token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadGrant {
    /// The file the body is for.
    pub file: AttachmentId,
    /// Last second the token is valid.
    pub expires_unix: u64,
    /// Most bytes the body may have.
    pub max_bytes: u64,
}

/// Why an upload token was refused (the API answers all of these alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadTokenError {
    /// Not the five parts of an upload token.
    Malformed,
    /// The MAC does not verify.
    BadSignature,
    /// Past its expiry.
    Expired,
}

const VERSION: &str = "u1";

impl UploadSigner {
    /// A signer whose key is derived from `secret` for upload tokens only.
    pub fn new(secret: &[u8]) -> Self {
        let derive = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&derive, b"attachd upload token key v1");
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()) }
    }

    /// A token for `grant`.
    pub fn sign(&self, grant: UploadGrant) -> String {
        let UploadGrant { file, expires_unix, max_bytes } = grant;
        let tag = hmac::sign(
            &self.key,
            message(&file.to_string(), &expires_unix.to_string(), &max_bytes.to_string()).as_bytes(),
        );
        format!("{VERSION}.{file}.{expires_unix}.{max_bytes}.{}", hex::encode(tag.as_ref()))
    }

    /// Checks `token` at `now_unix`.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<UploadGrant, UploadTokenError> {
        let [file, exp, max, mac] = parse(token)?;
        let mac = hex::decode(mac).map_err(|_| UploadTokenError::Malformed)?;
        hmac::verify(&self.key, message(file, exp, max).as_bytes(), &mac)
            .map_err(|_| UploadTokenError::BadSignature)?;
        let expires_unix: u64 = exp.parse().map_err(|_| UploadTokenError::Malformed)?;
        let max_bytes: u64 = max.parse().map_err(|_| UploadTokenError::Malformed)?;
        let file: AttachmentId = file.parse().map_err(|_| UploadTokenError::Malformed)?;
        if expires_unix < now_unix {
            return Err(UploadTokenError::Expired);
        }
        Ok(UploadGrant { file, expires_unix, max_bytes })
    }
}

fn message(file: &str, exp: &str, max: &str) -> String {
    format!("upload:PUT:{file}:{exp}:{max}")
}

/// Splits a token into its file, expiry, limit and MAC (pure; no part empty, numbers are
/// 1–20 digits, the MAC is 64 hex digits).
pub fn parse(token: &str) -> Result<[&str; 4], UploadTokenError> {
    let mut parts = token.split('.');
    let (Some(VERSION), Some(file), Some(exp), Some(max), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(UploadTokenError::Malformed);
    };
    let number = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if file.is_empty() || !number(exp) || !number(max) || mac.len() != 64 {
        return Err(UploadTokenError::Malformed);
    }
    Ok([file, exp, max, mac])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::token::TokenSigner;
    use proptest::prelude::*;

    fn grant() -> UploadGrant {
        UploadGrant { file: AttachmentId::random(), expires_unix: 1000, max_bytes: 10 }
    }

    #[test]
    fn sign_verify_and_expiry() {
        let s = UploadSigner::new(b"secret");
        let g = grant();
        let t = s.sign(g);
        assert_eq!(s.verify(&t, 1000), Ok(g), "valid through its expiry second");
        assert_eq!(s.verify(&t, 1001), Err(UploadTokenError::Expired));
        assert_eq!(UploadSigner::new(b"other").verify(&t, 0), Err(UploadTokenError::BadSignature));
    }

    #[test]
    fn every_field_is_under_the_mac() {
        let s = UploadSigner::new(b"secret");
        let g = grant();
        let t = s.sign(g);
        let other = AttachmentId::random().to_string();
        for forged in
            [t.replace(&g.file.to_string(), &other), t.replace(".1000.", ".9000."), t.replace(".10.", ".99999999.")]
        {
            assert_eq!(s.verify(&forged, 0), Err(UploadTokenError::BadSignature), "{forged}");
        }
    }

    #[test]
    fn download_and_upload_tokens_never_cross() {
        let (up, down) = (UploadSigner::new(b"secret"), TokenSigner::new(b"secret"));
        let id = AttachmentId::random();
        let d = down.sign(id, 1000);
        assert_eq!(up.verify(&d, 0), Err(UploadTokenError::Malformed));
        // Even re-shaped as an upload token, a download MAC does not verify.
        let mac = d.rsplit('.').next().unwrap();
        assert_eq!(up.verify(&format!("u1.{id}.1000.10.{mac}"), 0), Err(UploadTokenError::BadSignature));
        let u = up.sign(UploadGrant { file: id, expires_unix: 1000, max_bytes: 10 });
        assert!(down.verify(&u, 0).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_panic_or_verify(t in ".{0,200}") {
            let s = UploadSigner::new(b"secret");
            let _ = parse(&t);
            prop_assert!(s.verify(&t, 0).is_err());
        }

        #[test]
        fn every_grant_round_trips(id in any::<[u8; 16]>(), exp in any::<u64>(), max in any::<u64>()) {
            let s = UploadSigner::new(b"secret");
            let g = UploadGrant { file: AttachmentId::from_bytes(id), expires_unix: exp, max_bytes: max };
            prop_assert_eq!(s.verify(&s.sign(g), 0), Ok(g));
        }
    }
}
