//! Extracting the bearer token: `Authorization: Bearer <token>` only. The reference also took a
//! `token` cookie; attachd does not, since a browser attaches cookies to cross-site requests
//! (a dashboard's session cookie would then authorise any page's form posts). Which kind of
//! token it is, and what it may do, is the service's business.

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;

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
        // A cookie is never a credential.
        assert!(matches!(bearer(&with(hyper::header::COOKIE, "a=b; token=xyz")), Err(ServiceError::MissingAuth)));
        assert!(matches!(bearer(&HeaderMap::new()), Err(ServiceError::MissingAuth)));
    }
}
