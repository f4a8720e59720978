//! Seed 002's routes: `GET|HEAD|PUT|DELETE
//! /api/v1/project/:project_id/sessions/:session_id/attachments/:point`. Pure and
//! table-tested. The project id must be an integer (400 otherwise, as the seed validates it);
//! the session id is 1–128 bytes without `/` or control characters, the point name 1–128 bytes
//! without control characters (both percent-decoded). Neither ever names a file.

use hyper::Method;

use crate::http::router::{pick, segments};

/// A slot: a named point in a session of a project (by its number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The project number (a project alias).
    pub project: u64,
    /// The session id.
    pub session: String,
    /// The point name.
    pub point: String,
}

/// Every endpoint of the session-point API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET|HEAD`: the slot's bytes.
    Get(Slot),
    /// `PUT`: store a file in the slot, replacing what it held.
    Put(Slot),
    /// `DELETE`: empty the slot.
    Delete(Slot),
    /// A known path with the wrong method.
    MethodNotAllowed(&'static str),
    /// A known path with a malformed parameter.
    BadRequest(String),
}

impl Route {
    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Get(_) => "session_get",
            Route::Put(_) => "session_put",
            Route::Delete(_) => "session_delete",
            Route::MethodNotAllowed(_) => "method_not_allowed",
            Route::BadRequest(_) => "bad_request",
        }
    }
}

/// Longest session id or point name, in bytes.
pub const MAX_NAME: usize = 128;

fn name(raw: &str, what: &str, slash_ok: bool) -> Result<String, Route> {
    let bad = || Route::BadRequest(format!("{what} must be 1-{MAX_NAME} bytes without control characters"));
    let s = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| bad())?;
    if s.is_empty() || s.len() > MAX_NAME || s.chars().any(char::is_control) || (!slash_ok && s.contains('/')) {
        return Err(bad());
    }
    Ok(s.into_owned())
}

/// Routes a request, or `None` for a path that is not this API's.
pub fn route(m: &Method, path: &str) -> Option<Route> {
    let segs = segments(path);
    let ["api", "v1", "project", p, "sessions", s, "attachments", point] = segs.as_slice() else { return None };
    let slot = || -> Result<Slot, Route> {
        let project = p.parse::<u64>().map_err(|_| Route::BadRequest("project_id must be an integer".into()))?;
        Ok(Slot { project, session: name(s, "session_id", false)?, point: name(point, "the point name", true)? })
    };
    let slot = match slot() {
        Ok(s) => s,
        Err(e) => return Some(e),
    };
    let table = [
        (Method::GET, Route::Get(slot.clone())),
        (Method::PUT, Route::Put(slot.clone())),
        (Method::DELETE, Route::Delete(slot)),
    ];
    Some(pick(m, "GET, HEAD, PUT, DELETE", &table).unwrap_or_else(Route::MethodNotAllowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let slot = |s: &str, p: &str| Slot { project: 42, session: s.into(), point: p.into() };
        let base = "/api/v1/project/42/sessions/9b2f/attachments";
        let cases: Vec<(Method, String, Option<Route>)> = vec![
            (Method::GET, format!("{base}/photo"), Some(Route::Get(slot("9b2f", "photo")))),
            (Method::HEAD, format!("{base}/photo"), Some(Route::Get(slot("9b2f", "photo")))),
            (Method::PUT, format!("{base}/front%20door"), Some(Route::Put(slot("9b2f", "front door")))),
            (Method::DELETE, format!("{base}/a%2Fb"), Some(Route::Delete(slot("9b2f", "a/b")))),
            (Method::POST, format!("{base}/photo"), Some(Route::MethodNotAllowed("GET, HEAD, PUT, DELETE"))),
            (
                Method::GET,
                "/api/v1/project/abc/sessions/s/attachments/p".into(),
                Some(Route::BadRequest("project_id must be an integer".into())),
            ),
            (
                Method::GET,
                "/api/v1/project/-1/sessions/s/attachments/p".into(),
                Some(Route::BadRequest("project_id must be an integer".into())),
            ),
            (
                Method::GET,
                "/api/v1/project/1/sessions/a%2Fb/attachments/p".into(),
                Some(Route::BadRequest("session_id must be 1-128 bytes without control characters".into())),
            ),
            (
                Method::GET,
                "/api/v1/project/1/sessions/s/attachments/p%0A".into(),
                Some(Route::BadRequest("the point name must be 1-128 bytes without control characters".into())),
            ),
            (
                Method::GET,
                format!("/api/v1/project/1/sessions/s/attachments/{}", "x".repeat(129)),
                Some(Route::BadRequest("the point name must be 1-128 bytes without control characters".into())),
            ),
            (Method::GET, "/api/v1/project/1/sessions/s/attachments".into(), None),
            (Method::GET, "/api/v2/assets/a/attachments".into(), None),
        ];
        for (m, path, want) in cases {
            assert_eq!(route(&m, &path), want, "{m} {path}");
        }
    }
}
