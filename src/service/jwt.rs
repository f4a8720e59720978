//! Dashboard-user JWTs: HS256 only, verified with ring's HMAC in constant time.
//!
//! Only what attachd needs: header `alg` must be `HS256`, the signature must verify, `exp` must
//! be present and in the future (a token without one would never expire), `nbf` (if present) in
//! the past, `aud` must name the configured audience and `iss` the configured issuer (each
//! checked when configured, as the identity provider's other services' tokens are signed with
//! the same secret), and `sub` names the user. A full JOSE library would bring RSA and ECDSA
//! stacks for one HMAC, so this is done here.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::Deserialize;

use crate::ids::UserId;

/// Verifies HS256 JWTs.
pub struct JwtVerifier {
    key: hmac::Key,
    rules: JwtRules,
}

/// Which `aud` and `iss` a token must carry (`None`: not checked).
#[derive(Debug, Clone, Default)]
pub struct JwtRules {
    /// Required audience: `aud` must equal it, or be an array containing it.
    pub audience: Option<String>,
    /// Required issuer: `iss` must equal it.
    pub issuer: Option<String>,
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
    #[serde(default)]
    aud: serde_json::Value,
    #[serde(default)]
    iss: Option<String>,
}

impl Claims {
    fn audience_is(&self, want: &str) -> bool {
        match &self.aud {
            serde_json::Value::String(a) => a == want,
            serde_json::Value::Array(list) => list.iter().any(|a| a.as_str() == Some(want)),
            _ => false,
        }
    }
}

impl JwtVerifier {
    /// A verifier for `secret` that enforces `rules`.
    pub fn new(secret: &[u8], rules: JwtRules) -> Self {
        Self { key: hmac::Key::new(hmac::HMAC_SHA256, secret), rules }
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
        if !claims.exp.is_some_and(|e| e > now) || claims.nbf.is_some_and(|n| n > now) {
            return None;
        }
        if self.rules.audience.as_deref().is_some_and(|want| !claims.audience_is(want))
            || self.rules.issuer.as_deref().is_some_and(|want| claims.iss.as_deref() != Some(want))
        {
            return None;
        }
        let sub = match claims.sub {
            serde_json::Value::String(s) if !s.is_empty() && s.len() <= 255 && !s.contains('\0') => s,
            _ => return None,
        };
        Some(UserId(sub))
    }

    /// Mints a token (admin CLI and tests) that passes this verifier's rules.
    pub fn mint(&self, sub: &str, exp_unix: u64) -> String {
        let mut claims = serde_json::json!({ "sub": sub, "exp": exp_unix });
        if let Some(aud) = &self.rules.audience {
            claims["aud"] = aud.as_str().into();
        }
        if let Some(iss) = &self.rules.issuer {
            claims["iss"] = iss.as_str().into();
        }
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests of the rules).
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
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
        let v = JwtVerifier::new(b"s3cret", JwtRules::default());
        let t = v.mint("user-1", 2000);
        assert_eq!(v.verify(&t, 1000), Some(UserId("user-1".into())));
        assert_eq!(v.verify(&t, 2000), None, "expired");
        assert_eq!(JwtVerifier::new(b"other", JwtRules::default()).verify(&t, 1000), None);
        let none_alg = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#), t.split('.').nth(1).unwrap());
        assert_eq!(v.verify(&none_alg, 1000), None);
        assert_eq!(v.verify("garbage", 0), None);
        assert_eq!(v.verify("a.b.c", 0), None);
    }

    #[test]
    fn a_token_without_exp_never_verifies() {
        let v = JwtVerifier::new(b"s3cret", JwtRules::default());
        assert_eq!(v.verify(&v.sign(&serde_json::json!({ "sub": "u" })), 0), None);
        assert_eq!(v.verify(&v.sign(&serde_json::json!({ "sub": "u", "exp": null })), 0), None);
        assert_eq!(v.verify(&v.sign(&serde_json::json!({ "sub": "u", "exp": "9999999999" })), 0), None);
        assert!(v.verify(&v.sign(&serde_json::json!({ "sub": "u", "exp": 10 })), 0).is_some());
    }

    #[test]
    fn audience_and_issuer_are_enforced_when_configured() {
        let rules = JwtRules { audience: Some("attachd".into()), issuer: Some("https://idp.example".into()) };
        let v = JwtVerifier::new(b"s3cret", rules);
        let ok = |c: serde_json::Value| v.verify(&v.sign(&c), 0).is_some();
        let iss = "https://idp.example";
        assert!(ok(serde_json::json!({ "sub": "u", "exp": 10, "aud": "attachd", "iss": iss })));
        assert!(ok(serde_json::json!({ "sub": "u", "exp": 10, "aud": ["billing", "attachd"], "iss": iss })));
        assert!(!ok(serde_json::json!({ "sub": "u", "exp": 10, "aud": "billing", "iss": iss })), "other audience");
        assert!(!ok(serde_json::json!({ "sub": "u", "exp": 10, "iss": iss })), "no audience");
        assert!(!ok(serde_json::json!({ "sub": "u", "exp": 10, "aud": "attachd" })), "no issuer");
        assert!(!ok(serde_json::json!({ "sub": "u", "exp": 10, "aud": "attachd", "iss": "https://evil" })));
        assert!(v.verify(&v.mint("u", 10), 0).is_some(), "mint follows the rules");
        // Unconfigured rules accept any aud/iss.
        let open = JwtVerifier::new(b"s3cret", JwtRules::default());
        assert!(open.verify(&open.sign(&serde_json::json!({ "sub": "u", "exp": 10, "aud": "x" })), 0).is_some());
    }
}
