//! Signed download tokens: `<attachment_id>.<expires_unix_s>.<hex HMAC-SHA256>`.
//!
//! The MAC covers `"<attachment_id>:<expires_unix_s>"` under the download signing secret
//! (ring's HMAC), is checked in constant time (`ring::hmac::verify`), and a token is valid
//! through its expiry second, exactly as the reference. Tokens are not bound to a caller and can
//! be replayed until they expire, but every download re-reads the record, so a soft-deleted
//! attachment is never served.

use ring::hmac;

use crate::ids::AttachmentId;

/// Issues and checks download tokens.
pub struct TokenSigner {
    key: hmac::Key,
}

/// Why a token was refused (the API answers all of these with the same 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not three dot-separated parts, or a part is malformed.
    Malformed,
    /// Past its expiry.
    Expired,
    /// The MAC does not verify.
    BadSignature,
}

impl TokenSigner {
    /// A signer for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// A token for `id` valid until `expires_unix` (inclusive).
    pub fn sign(&self, id: AttachmentId, expires_unix: u64) -> String {
        let tag = hmac::sign(&self.key, format!("{id}:{expires_unix}").as_bytes());
        format!("{id}.{expires_unix}.{}", hex::encode(tag.as_ref()))
    }

    /// Checks `token` at `now_unix`; returns the attachment it grants.
    pub fn verify(&self, token: &str, now_unix: u64) -> Result<AttachmentId, TokenError> {
        let (id_s, exp_s, mac_s) = parse(token)?;
        let mac = hex::decode(mac_s).map_err(|_| TokenError::Malformed)?;
        if mac.len() != 32 {
            return Err(TokenError::Malformed);
        }
        // The MAC is over the id and expiry exactly as presented.
        hmac::verify(&self.key, format!("{id_s}:{exp_s}").as_bytes(), &mac).map_err(|_| TokenError::BadSignature)?;
        let exp: u64 = exp_s.parse().map_err(|_| TokenError::Malformed)?;
        if exp < now_unix {
            return Err(TokenError::Expired);
        }
        id_s.parse().map_err(|_| TokenError::Malformed)
    }
}

/// Splits a token into its three parts (pure; fuzzed as `download_token`).
pub fn parse(token: &str) -> Result<(&str, &str, &str), TokenError> {
    let mut parts = token.split('.');
    let (Some(id), Some(exp), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    if id.is_empty() || exp.is_empty() || mac.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) || exp.len() > 19 {
        return Err(TokenError::Malformed);
    }
    Ok((id, exp, mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sign_then_verify() {
        let s = TokenSigner::new(b"secret");
        let id = AttachmentId::random();
        let t = s.sign(id, 1000);
        assert_eq!(s.verify(&t, 999), Ok(id));
        assert_eq!(s.verify(&t, 1000), Ok(id), "valid through its expiry second");
        assert_eq!(s.verify(&t, 1001), Err(TokenError::Expired));
        assert_eq!(TokenSigner::new(b"other").verify(&t, 0), Err(TokenError::BadSignature));
    }

    #[test]
    fn tampering_is_detected() {
        let s = TokenSigner::new(b"secret");
        let id = AttachmentId::random();
        let t = s.sign(id, 1000);
        let longer = t.replacen(".1000.", ".9999.", 1);
        assert_eq!(s.verify(&longer, 0), Err(TokenError::BadSignature));
        let other = t.replacen(&id.to_string(), &AttachmentId::random().to_string(), 1);
        assert_eq!(s.verify(&other, 0), Err(TokenError::BadSignature));
        for bad in ["", "a.b", "a.b.c.d", "x..y", "id.12a.ff", &format!("{id}.1000.zz")] {
            assert!(s.verify(bad, 0).is_err(), "{bad}");
        }
    }

    proptest! {
        // Mirror of fuzz target `download_token`: any string is refused or verifies, never panics,
        // and only a token this signer made verifies.
        #[test]
        fn arbitrary_tokens_never_verify(t in "\\PC{0,200}") {
            let s = TokenSigner::new(b"k");
            prop_assert!(s.verify(&t, 0).is_err());
        }
    }
}
