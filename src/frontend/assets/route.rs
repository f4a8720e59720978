//! Seed 003's routes. Pure and table-tested.
//!
//! ```text
//! GET|POST          /api/v2/assets/:asset_id/attachments       list / create under an asset
//! GET|POST          /api/v2/projects/:project_id/attachments   list / create under a project
//! GET|PATCH|DELETE  /api/v2/attachments/:id                    one record
//! GET|HEAD|PUT      /api/v2/attachments/:id/file               its file: download / attach or replace
//! ```
//!
//! Ids are the host's (assets, projects) or attachd's (records) opaque strings: 1–64 characters
//! of `[A-Za-z0-9_-]`. An id of any other shape cannot name anything: it is the API's 404 for
//! that kind, without a lookup. No id ever names a file.

use hyper::Method;

use crate::http::router::{pick, segments};

/// What a record hangs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// An asset of the host application.
    Asset,
    /// A project of the host application.
    Project,
}

impl Under {
    /// The name in messages (`"asset not found"`).
    pub fn noun(self) -> &'static str {
        match self {
            Under::Asset => "asset",
            Under::Project => "project",
        }
    }
}

/// Every endpoint of the asset-record API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET .../attachments`: the records under a parent.
    List(Under, String),
    /// `POST .../attachments`: create a record (JSON, or a form with its file).
    Create(Under, String),
    /// `GET /api/v2/attachments/:id`.
    Get(String),
    /// `PATCH /api/v2/attachments/:id`: edit its names.
    Patch(String),
    /// `DELETE /api/v2/attachments/:id`: soft-delete.
    Delete(String),
    /// `GET|HEAD /api/v2/attachments/:id/file`: the file's bytes.
    Download(String),
    /// `PUT /api/v2/attachments/:id/file`: attach or replace the file.
    PutFile(String),
    /// A known path with the wrong method.
    MethodNotAllowed(&'static str),
    /// A known path whose id cannot exist (`"asset"`, `"project"`, `"attachment"`).
    NotFound(&'static str),
}

impl Route {
    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::List(..) => "record_list",
            Route::Create(..) => "record_create",
            Route::Get(_) => "record_get",
            Route::Patch(_) => "record_patch",
            Route::Delete(_) => "record_delete",
            Route::Download(_) => "record_download",
            Route::PutFile(_) => "record_put_file",
            Route::MethodNotAllowed(_) => "method_not_allowed",
            Route::NotFound(_) => "not_found",
        }
    }
}

/// Whether `s` can be an id (the model's token ids).
pub fn is_id(s: &str) -> bool {
    crate::model::is_token_id(s)
}

/// Routes a request, or `None` for a path that is not this API's.
pub fn route(m: &Method, path: &str) -> Option<Route> {
    let segs = segments(path);
    let id = |raw: &str, noun: &'static str| if is_id(raw) { Ok(raw.to_string()) } else { Err(Route::NotFound(noun)) };
    let found = match segs.as_slice() {
        ["api", "v2", parents, p, "attachments"] => {
            let under = match *parents {
                "assets" => Under::Asset,
                "projects" => Under::Project,
                _ => return None,
            };
            id(p, under.noun()).map(|p| {
                let table = [(Method::GET, Route::List(under, p.clone())), (Method::POST, Route::Create(under, p))];
                pick(m, "GET, HEAD, POST", &table).unwrap_or_else(Route::MethodNotAllowed)
            })
        }
        ["api", "v2", "attachments", a] => id(a, "attachment").map(|a| {
            let table = [
                (Method::GET, Route::Get(a.clone())),
                (Method::PATCH, Route::Patch(a.clone())),
                (Method::DELETE, Route::Delete(a)),
            ];
            pick(m, "GET, HEAD, PATCH, DELETE", &table).unwrap_or_else(Route::MethodNotAllowed)
        }),
        ["api", "v2", "attachments", a, "file"] => id(a, "attachment").map(|a| {
            let table = [(Method::GET, Route::Download(a.clone())), (Method::PUT, Route::PutFile(a))];
            pick(m, "GET, HEAD, PUT", &table).unwrap_or_else(Route::MethodNotAllowed)
        }),
        _ => return None,
    };
    Some(found.unwrap_or_else(|e| e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let s = |x: &str| x.to_string();
        let cases: Vec<(Method, String, Option<Route>)> = vec![
            (
                Method::GET,
                "/api/v2/assets/bDzHAAxLXsSmhL4lax8D/attachments".into(),
                Some(Route::List(Under::Asset, s("bDzHAAxLXsSmhL4lax8D"))),
            ),
            (Method::HEAD, "/api/v2/assets/a/attachments".into(), Some(Route::List(Under::Asset, s("a")))),
            (
                Method::POST,
                "/api/v2/assets/NBmnCtuFCbI88s1cNHJX/attachments".into(),
                Some(Route::Create(Under::Asset, s("NBmnCtuFCbI88s1cNHJX"))),
            ),
            (
                Method::POST,
                "/api/v2/projects/-23mQQaJiZrjw1MLBEc1/attachments".into(),
                Some(Route::Create(Under::Project, s("-23mQQaJiZrjw1MLBEc1"))),
            ),
            (
                Method::GET,
                "/api/v2/projects/If8_aXgtMF4ggxOPqvKM/attachments".into(),
                Some(Route::List(Under::Project, s("If8_aXgtMF4ggxOPqvKM"))),
            ),
            (Method::DELETE, "/api/v2/projects/p/attachments".into(), Some(Route::MethodNotAllowed("GET, HEAD, POST"))),
            (Method::GET, "/api/v2/assets/a.b/attachments".into(), Some(Route::NotFound("asset"))),
            (Method::GET, "/api/v2/projects/..%2F..%2Fetc/attachments".into(), Some(Route::NotFound("project"))),
            (Method::GET, format!("/api/v2/assets/{}/attachments", "a".repeat(65)), Some(Route::NotFound("asset"))),
            (
                Method::GET,
                "/api/v2/attachments/S3kQqTTXTFMLBhsY8XeY".into(),
                Some(Route::Get(s("S3kQqTTXTFMLBhsY8XeY"))),
            ),
            (Method::PATCH, "/api/v2/attachments/S3k".into(), Some(Route::Patch(s("S3k")))),
            (Method::DELETE, "/api/v2/attachments/S3k".into(), Some(Route::Delete(s("S3k")))),
            (Method::PUT, "/api/v2/attachments/S3k".into(), Some(Route::MethodNotAllowed("GET, HEAD, PATCH, DELETE"))),
            (Method::PUT, "/api/v2/attachments/S3k/file".into(), Some(Route::PutFile(s("S3k")))),
            (Method::GET, "/api/v2/attachments/S3k/file".into(), Some(Route::Download(s("S3k")))),
            (Method::POST, "/api/v2/attachments/S3k/file".into(), Some(Route::MethodNotAllowed("GET, HEAD, PUT"))),
            (Method::GET, "/api/v2/attachments/S%00k/file".into(), Some(Route::NotFound("attachment"))),
            (Method::GET, "/api/v2/widgets/a/attachments".into(), None),
            (Method::GET, "/api/v2/attachments".into(), None),
            (Method::GET, "/api/v1/project/1/sessions/s/attachments/p".into(), None),
        ];
        for (m, path, want) in cases {
            assert_eq!(route(&m, &path), want, "{m} {path}");
        }
    }

    #[test]
    fn ids_are_opaque_url_safe_strings() {
        assert!(is_id("S3kQqTTXTFMLBhsY8XeY"));
        assert!(is_id("-23mQQaJiZrjw1MLBEc1"));
        for bad in ["", "a/b", "a b", "é", "a.b", &"x".repeat(65)] {
            assert!(!is_id(bad), "{bad:?}");
        }
    }
}
