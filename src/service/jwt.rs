//! Dashboard-user JWTs: HS256 only, verified with ring's HMAC in constant time.
//!
//! Only what attachd needs: header `alg` must be `HS256`, the signature must verify, `exp` (if
//! present) must be in the future, `nbf` (if present) in the past, and `sub` names the user.
//! A full JOSE library would bring RSA and ECDSA stacks for one HMAC, so this is done here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::Deserialize;

use crate::ids::UserId;

/// Verifies HS256 JWTs.
pub struct JwtVerifier {
    key: hmac::Key,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: serde_json::Value,
    exp: Option<f64>,
    nbf: Option<f64>,
}

impl JwtVerifier {
    /// A verifier for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    /// The user a token names, if it verifies at `now_unix`.
    pub fn verify(&self, token: &str, now_unix: u64) -> Option<UserId> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header.alg != "HS256" {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        let signed_len = h.len() + 1 + p.len();
        hmac::verify(&self.key, &token.as_bytes()[..signed_len], &sig).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let now = now_unix as f64;
        if claims.exp.is_some_and(|e| e <= now) || claims.nbf.is_some_and(|n| n > now) {
            return None;
        }
        let sub = match claims.sub {
            serde_json::Value::String(s) if !s.is_empty() && s.len() <= 255 && !s.contains('\0') => s,
            _ => return None,
        };
        Some(UserId(sub))
    }

    /// Mints a token (admin CLI and tests).
    pub fn mint(&self, sub: &str, exp_unix: Option<u64>) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let mut claims = serde_json::json!({ "sub": sub });
        if let Some(exp) = exp_unix {
            claims["exp"] = exp.into();
        }
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let sig = hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let v = JwtVerifier::new(b"s3cret");
        let t = v.mint("user-1", Some(2000));
        assert_eq!(v.verify(&t, 1000), Some(UserId("user-1".into())));
        assert_eq!(v.verify(&t, 2000), None, "expired");
        assert_eq!(JwtVerifier::new(b"other").verify(&t, 1000), None);
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), t.split('.').nth(1).unwrap());
        assert_eq!(v.verify(&none_alg, 1000), None);
        assert_eq!(v.verify("garbage", 0), None);
        assert_eq!(v.verify("a.b.c", 0), None);
    }
}
