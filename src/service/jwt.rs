//! Dashboard-user JWTs: HS256 only, verified with ring's HMAC in constant time.
//!
//! Only what attachd needs: header `alg` must be `HS256`, the signature must verify, `exp` must
//! be present and in the future (a token without one would never expire), `nbf` (if present) in
//! the past, `aud` must name the configured audience and `iss` the configured issuer (each
//! checked when configured, as the identity provider's other services' tokens are signed with
//! the same secret), and `sub` names the user; optional `name` and `email` claims (printable
//! strings of at most 200 and 254 characters; anything else is ignored, never an error) give
//! the APIs that show who uploaded a display name without a lookup. A full JOSE library would bring RSA and ECDSA
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
    #[serde(default)]
    name: serde_json::Value,
    #[serde(default)]
    email: serde_json::Value,
}

/// Who a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `sub` claim.
    pub id: UserId,
    /// The `name` claim, if a usable one was given.
    pub name: Option<String>,
    /// The `email` claim, if a usable one was given.
    pub email: Option<String>,
}

/// A claim kept only if it is a printable string of 1 to `max` characters.
fn profile_claim(v: &serde_json::Value, max: usize) -> Option<String> {
    let s = v.as_str()?;
    (!s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)).then(|| s.to_string())
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
        self.verify_identity(token, now_unix).map(|i| i.id)
    }

    /// The user a token names, with its profile claims, if it verifies at `now_unix`.
    pub fn verify_identity(&self, token: &str, now_unix: u64) -> Option<Identity> {
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
        let (name, email) = (profile_claim(&claims.name, 200), profile_claim(&claims.email, 254));
        Some(Identity { id: UserId(sub), name, email })
    }

    /// Mints a token (admin CLI and tests) that passes this verifier's rules.
    pub fn mint(&self, sub: &str, exp_unix: u64) -> String {
        self.mint_with_profile(sub, exp_unix, None, None)
    }

    /// [`JwtVerifier::mint`] with `name` and `email` claims.
    pub fn mint_with_profile(&self, sub: &str, exp_unix: u64, name: Option<&str>, email: Option<&str>) -> String {
        let mut claims = serde_json::json!({ "sub": sub, "exp": exp_unix });
        if let Some(n) = name {
            claims["name"] = n.into();
        }
        if let Some(e) = email {
            claims["email"] = e.into();
        }
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
    fn profile_claims_travel_and_bad_ones_are_dropped() {
        let v = JwtVerifier::new(b"s3cret", JwtRules::default());
        let t = v.mint_with_profile("u", 2000, Some("Ann"), Some("ann@example.com"));
        let i = v.verify_identity(&t, 1000).unwrap();
        assert_eq!((i.name.as_deref(), i.email.as_deref()), (Some("Ann"), Some("ann@example.com")));
        let t = v.sign(&serde_json::json!({"sub": "u", "exp": 2000, "name": 5, "email": "a\nb"}));
        let i = v.verify_identity(&t, 1000).unwrap();
        assert_eq!((i.id, i.name, i.email), (UserId("u".into()), None, None), "ignored, not refused");
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
