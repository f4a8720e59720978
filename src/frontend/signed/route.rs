//! Seed 004's routes: `GET /v1/files/signed-url`, `PUT /v1/files/upload/:token`,
//! `GET /v1/files/:id/status` (and `/files/:id/status`, the path the seed's prose uses) and
//! `GET|HEAD /v1/files/:id`. Pure and table-tested. A file id must be a UUID (400
//! otherwise); the token is checked by the service, never here.

use hyper::Method;

use crate::http::router::{pick, segments};
use crate::ids::AttachmentId;

/// Every endpoint of the signed-URL files API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v1/files/signed-url`: an upload URL for a new file.
    SignedUrl,
    /// `PUT /v1/files/upload/:token`: the file's bytes.
    Upload(String),
    /// `GET /v1/files/:id/status`: where the file is in its life.
    Status(AttachmentId),
    /// `GET|HEAD /v1/files/:id`: the file's bytes, once served.
    Get(AttachmentId),
    /// A known path with the wrong method.
    MethodNotAllowed(&'static str),
    /// A known path with a malformed parameter.
    BadRequest(String),
}

impl Route {
    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::SignedUrl => "files_signed_url",
            Route::Upload(_) => "files_upload",
            Route::Status(_) => "files_status",
            Route::Get(_) => "files_get",
            Route::MethodNotAllowed(_) => "method_not_allowed",
            Route::BadRequest(_) => "bad_request",
        }
    }
}

fn file_id(raw: &str) -> Result<AttachmentId, Route> {
    raw.parse().map_err(|_| Route::BadRequest("file_id must be a UUID".into()))
}

/// Routes a request, or `None` for a path that is not this API's.
pub fn route(m: &Method, path: &str) -> Option<Route> {
    let segs = segments(path);
    let p = |allow, table: &[(Method, Route)]| pick(m, allow, table).unwrap_or_else(Route::MethodNotAllowed);
    let r = || -> Result<Option<Route>, Route> {
        Ok(Some(match segs.as_slice() {
            // GET only: a HEAD (a link checker) must not reserve a file.
            ["v1", "files", "signed-url"] if m == Method::HEAD => Route::MethodNotAllowed("GET"),
            ["v1", "files", "signed-url"] => p("GET", &[(Method::GET, Route::SignedUrl)]),
            ["v1", "files", "upload", token] => p("PUT", &[(Method::PUT, Route::Upload(token.to_string()))]),
            ["v1", "files", id, "status"] | ["files", id, "status"] => {
                p("GET, HEAD", &[(Method::GET, Route::Status(file_id(id)?))])
            }
            ["v1", "files", id] => p("GET, HEAD", &[(Method::GET, Route::Get(file_id(id)?))]),
            _ => return Ok(None),
        }))
    };
    r().unwrap_or_else(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "360d942f-d861-4611-b4b3-227278c9e709";

    #[test]
    fn table() {
        let id: AttachmentId = ID.parse().unwrap();
        let bad = || Some(Route::BadRequest("file_id must be a UUID".into()));
        let cases: Vec<(Method, String, Option<Route>)> = vec![
            (Method::GET, "/v1/files/signed-url".into(), Some(Route::SignedUrl)),
            (Method::POST, "/v1/files/signed-url".into(), Some(Route::MethodNotAllowed("GET"))),
            (Method::HEAD, "/v1/files/signed-url".into(), Some(Route::MethodNotAllowed("GET"))),
            (Method::PUT, "/v1/files/upload/u1.a.b.c.d".into(), Some(Route::Upload("u1.a.b.c.d".into()))),
            (Method::GET, "/v1/files/upload/t".into(), Some(Route::MethodNotAllowed("PUT"))),
            (Method::GET, format!("/v1/files/{ID}/status"), Some(Route::Status(id))),
            (Method::GET, format!("/files/{ID}/status"), Some(Route::Status(id))),
            (Method::HEAD, format!("/v1/files/{ID}"), Some(Route::Get(id))),
            (Method::DELETE, format!("/v1/files/{ID}"), Some(Route::MethodNotAllowed("GET, HEAD"))),
            (Method::GET, "/v1/files/nope".into(), bad()),
            (Method::GET, "/files/nope/status".into(), bad()),
            (Method::GET, "/v1/files".into(), None),
            (Method::GET, format!("/files/{ID}"), None),
            (Method::GET, "/v1/attachments".into(), None),
        ];
        for (m, path, want) in cases {
            assert_eq!(route(&m, &path), want, "{m} {path}");
        }
    }
}
