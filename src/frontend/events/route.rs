//! The seed-000 API's routes: method + path → a typed [`Route`], before any I/O. Pure and
//! table-tested.
//!
//! Path ids are parsed here, so handlers only ever see typed ids; a malformed id is a
//! [`Route::BadRequest`] (400), never a lookup of garbage. A path that is not one of this
//! API's is `None`, left to the other front ends (and the shared 404).

use hyper::Method;

use crate::http::router::{pick, segments};
use crate::ids::AttachmentId;

/// Every endpoint of the seed-000 API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/ingest/attachment`
    Reserve,
    /// `PUT /v1/ingest/attachment/:id`
    Upload(AttachmentId),
    /// `GET /v1/attachments`
    List,
    /// `GET|HEAD /v1/attachments/download`
    Download,
    /// `POST /v1/attachments/link`
    Link,
    /// `GET /v1/attachments/:id`
    Get(AttachmentId),
    /// `DELETE /v1/attachments/:id`
    Delete(AttachmentId),
    /// `GET /v1/projects/:id/attachment-usage` (the id is parsed after the permission check, as
    /// the reference does: a malformed one is a 400)
    Usage(String),
    /// `PATCH /v1/projects/:id` (id parsed as for `Usage`)
    PatchProject(String),
    /// A known path with the wrong method; carries the `Allow` value.
    MethodNotAllowed(&'static str),
    /// A known path with a malformed parameter.
    BadRequest(String),
}

impl Route {
    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Reserve => "reserve",
            Route::Upload(_) => "upload",
            Route::List => "list",
            Route::Download => "download",
            Route::Link => "link",
            Route::Get(_) => "get",
            Route::Delete(_) => "delete",
            Route::Usage(_) => "usage",
            Route::PatchProject(_) => "patch_project",
            Route::MethodNotAllowed(_) => "method_not_allowed",
            Route::BadRequest(_) => "bad_request",
        }
    }
}

fn id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, Route> {
    raw.parse().map_err(|_| Route::BadRequest(format!("{what} must be a UUID")))
}

/// Routes a request, or `None` for a path that is not this API's. `path` excludes the query.
pub fn route(m: &Method, path: &str) -> Option<Route> {
    let segs = segments(path);
    let p = |allow, table: &[(Method, Route)]| pick(m, allow, table).unwrap_or_else(Route::MethodNotAllowed);
    let r = || -> Result<Option<Route>, Route> {
        Ok(Some(match segs.as_slice() {
            ["v1", "ingest", "attachment"] => p("POST", &[(Method::POST, Route::Reserve)]),
            ["v1", "ingest", "attachment", a] => p("PUT", &[(Method::PUT, Route::Upload(id(a, "attachment id")?))]),
            ["v1", "attachments"] => p("GET, HEAD", &[(Method::GET, Route::List)]),
            ["v1", "attachments", "download"] => p("GET, HEAD", &[(Method::GET, Route::Download)]),
            ["v1", "attachments", "link"] => p("POST", &[(Method::POST, Route::Link)]),
            ["v1", "attachments", a] => {
                let a: AttachmentId = id(a, "attachment id")?;
                p("GET, HEAD, DELETE", &[(Method::GET, Route::Get(a)), (Method::DELETE, Route::Delete(a))])
            }
            ["v1", "projects", pr, "attachment-usage"] => {
                p("GET, HEAD", &[(Method::GET, Route::Usage(pr.to_string()))])
            }
            ["v1", "projects", pr] => p("PATCH", &[(Method::PATCH, Route::PatchProject(pr.to_string()))]),
            _ => return Ok(None),
        }))
    };
    r().unwrap_or_else(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn table() {
        use Route as R;
        let aid: AttachmentId = ID.parse().unwrap();
        let bad_id = || Some(R::BadRequest("attachment id must be a UUID".into()));
        let cases: Vec<(Method, String, Option<Route>)> = vec![
            (Method::POST, "/v1/ingest/attachment".into(), Some(R::Reserve)),
            (Method::GET, "/v1/ingest/attachment".into(), Some(R::MethodNotAllowed("POST"))),
            (Method::PUT, format!("/v1/ingest/attachment/{ID}"), Some(R::Upload(aid))),
            (Method::PUT, format!("/v1/ingest/attachment/{}", ID.to_uppercase()), Some(R::Upload(aid))),
            (Method::PUT, "/v1/ingest/attachment/nope".into(), bad_id()),
            (Method::PUT, "/v1/ingest/attachment/..%2F..%2Fetc".into(), bad_id()),
            (Method::GET, "/v1/attachments".into(), Some(R::List)),
            (Method::GET, "/v1/attachments/".into(), Some(R::List)),
            (Method::GET, "/v1/attachments/download".into(), Some(R::Download)),
            (Method::HEAD, "/v1/attachments/download".into(), Some(R::Download)),
            (Method::POST, "/v1/attachments/link".into(), Some(R::Link)),
            (Method::GET, format!("/v1/attachments/{ID}"), Some(R::Get(aid))),
            (Method::DELETE, format!("/v1/attachments/{ID}"), Some(R::Delete(aid))),
            (Method::POST, format!("/v1/attachments/{ID}"), Some(R::MethodNotAllowed("GET, HEAD, DELETE"))),
            (Method::GET, "/v1/attachments/x".into(), bad_id()),
            (Method::GET, format!("/v1/projects/{ID}/attachment-usage"), Some(R::Usage(ID.into()))),
            (Method::PATCH, format!("/v1/projects/{ID}"), Some(R::PatchProject(ID.into()))),
            // Not this API's: left to the other front ends.
            (Method::GET, "/health".into(), None),
            (Method::GET, "/".into(), None),
            (Method::GET, "/v2/attachments".into(), None),
            (Method::POST, "/admin/v1/teams".into(), None),
        ];
        for (m, p, want) in cases {
            assert_eq!(route(&m, &p), want, "{m} {p}");
        }
    }
}
