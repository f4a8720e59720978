//! Extracting the bearer token: `Authorization: Bearer <token>`, else the `token` cookie (the
//! reference's order). Which kind of token it is, and what it may do, is the service's business.

use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, COOKIE};

use crate::service::ServiceError;

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Result<String, ServiceError> {
    if let Some(v) = headers.get(AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ServiceError::InvalidAuthFormat)?;
        let (scheme, token) = v.trim().split_once(' ').ok_or(ServiceError::InvalidAuthFormat)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(ServiceError::InvalidAuthFormat);
        }
        return Ok(token.to_string());
    }
    for v in headers.get_all(COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for pair in v.split(';') {
            if let Some(("token", t)) = pair.trim().split_once('=').map(|(k, t)| (k.trim(), t.trim())) {
                if !t.is_empty() {
                    return Ok(t.to_string());
                }
            }
        }
    }
    Err(ServiceError::MissingAuth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(name: hyper::header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn table() {
        assert_eq!(bearer(&with(AUTHORIZATION, "Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer(&with(AUTHORIZATION, "bearer  abc ")).unwrap(), "abc");
        assert!(matches!(bearer(&with(AUTHORIZATION, "Basic abc")), Err(ServiceError::InvalidAuthFormat)));
        assert!(matches!(bearer(&with(AUTHORIZATION, "Bearer")), Err(ServiceError::InvalidAuthFormat)));
        assert_eq!(bearer(&with(COOKIE, "a=b; token=xyz")).unwrap(), "xyz");
        assert!(matches!(bearer(&HeaderMap::new()), Err(ServiceError::MissingAuth)));
    }
}
