//! The router: method + path → a typed [`Route`], before any I/O. Pure and table-tested.
//!
//! Path ids are parsed here, so handlers only ever see typed ids; a malformed id is a
//! [`Route::BadRequest`] (400), never a lookup of garbage.

use hyper::Method;

use crate::ids::{AttachmentId, KeyId, ProjectId, TeamId, UserId};

/// Every endpoint attachd serves.
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
    /// `GET /v1/projects/:id/attachment-usage` (the service parses the id: a malformed one is a 400)
    Usage(String),
    /// `PATCH /v1/projects/:id` (id parsed by the service, as for `Usage`)
    PatchProject(String),
    /// `GET /health`
    Health,
    /// `GET /ready`
    Ready,
    /// `/admin/v1/…`
    Admin(AdminRoute),
    /// A known path with the wrong method; carries the `Allow` value.
    MethodNotAllowed(&'static str),
    /// A known path with a malformed parameter.
    BadRequest(String),
    /// Nothing here.
    NotFound,
}

/// The admin API; paths are under `/admin/v1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    /// `GET teams`
    ListTeams,
    /// `POST teams`
    CreateTeam,
    /// `POST teams/:team/projects`
    CreateProject(TeamId),
    /// `GET projects`
    ListProjects,
    /// `DELETE projects/:id`
    DeleteProject(ProjectId),
    /// `PUT projects/:id/quota`
    SetQuota(ProjectId),
    /// `POST projects/:project/apps`
    CreateApp(ProjectId),
    /// `GET apps`
    ListApps,
    /// `GET keys`
    ListKeys,
    /// `POST keys`
    CreateKey,
    /// `DELETE keys/:id`
    RevokeKey(KeyId),
    /// `GET teams/:team/members`
    ListMembers(TeamId),
    /// `PUT teams/:team/members/:user` (the user id percent-decoded)
    SetMember(TeamId, UserId),
    /// `DELETE teams/:team/members/:user` (the user id percent-decoded)
    RemoveMember(TeamId, UserId),
    /// `POST jwt`
    MintJwt,
    /// `GET tokens`
    ListTokens,
    /// `POST tokens`
    CreateToken,
    /// `DELETE tokens/:id` (the id is 16 hex digits, lowercased here)
    RevokeToken(String),
    /// `POST cleanup`
    Cleanup,
    /// `POST backup`
    Backup,
    /// `POST fsck`
    Fsck,
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
            Route::Health => "health",
            Route::Ready => "ready",
            Route::Admin(_) => "admin",
            Route::MethodNotAllowed(_) => "method_not_allowed",
            Route::BadRequest(_) => "bad_request",
            Route::NotFound => "not_found",
        }
    }
}

fn id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, Route> {
    raw.parse().map_err(|_| Route::BadRequest(format!("{what} must be a UUID")))
}

fn pick(m: &Method, allow: &'static str, table: &[(Method, Route)]) -> Route {
    for (method, route) in table {
        if method == m || (*method == Method::GET && *m == Method::HEAD) {
            return route.clone();
        }
    }
    Route::MethodNotAllowed(allow)
}

/// Routes a request. `path` excludes the query string.
pub fn route(m: &Method, path: &str) -> Route {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let r = || -> Result<Route, Route> {
        Ok(match segs.as_slice() {
            ["v1", "ingest", "attachment"] => pick(m, "POST", &[(Method::POST, Route::Reserve)]),
            ["v1", "ingest", "attachment", a] => {
                pick(m, "PUT", &[(Method::PUT, Route::Upload(id(a, "attachment id")?))])
            }
            ["v1", "attachments"] => pick(m, "GET, HEAD", &[(Method::GET, Route::List)]),
            ["v1", "attachments", "download"] => pick(m, "GET, HEAD", &[(Method::GET, Route::Download)]),
            ["v1", "attachments", "link"] => pick(m, "POST", &[(Method::POST, Route::Link)]),
            ["v1", "attachments", a] => {
                let a: AttachmentId = id(a, "attachment id")?;
                pick(m, "GET, HEAD, DELETE", &[(Method::GET, Route::Get(a)), (Method::DELETE, Route::Delete(a))])
            }
            ["v1", "projects", p, "attachment-usage"] => {
                pick(m, "GET, HEAD", &[(Method::GET, Route::Usage(p.to_string()))])
            }
            ["v1", "projects", p] => pick(m, "PATCH", &[(Method::PATCH, Route::PatchProject(p.to_string()))]),
            ["health"] => pick(m, "GET, HEAD", &[(Method::GET, Route::Health)]),
            ["ready"] => pick(m, "GET, HEAD", &[(Method::GET, Route::Ready)]),
            ["admin", "v1", rest @ ..] => admin(m, rest)?,
            _ => Route::NotFound,
        })
    };
    r().unwrap_or_else(|e| e)
}

fn admin(m: &Method, rest: &[&str]) -> Result<Route, Route> {
    use AdminRoute as A;
    let a = |r: A| Route::Admin(r);
    Ok(match rest {
        ["teams"] => pick(m, "GET, POST", &[(Method::GET, a(A::ListTeams)), (Method::POST, a(A::CreateTeam))]),
        ["teams", t, "projects"] => pick(m, "POST", &[(Method::POST, a(A::CreateProject(id(t, "team id")?)))]),
        ["teams", t, "members"] => pick(m, "GET", &[(Method::GET, a(A::ListMembers(id(t, "team id")?)))]),
        ["teams", t, "members", u] => {
            let t: TeamId = id(t, "team id")?;
            let u = percent_encoding::percent_decode_str(u).decode_utf8_lossy().into_owned();
            let u = UserId(u);
            pick(
                m,
                "PUT, DELETE",
                &[(Method::PUT, a(A::SetMember(t, u.clone()))), (Method::DELETE, a(A::RemoveMember(t, u)))],
            )
        }
        ["projects"] => pick(m, "GET", &[(Method::GET, a(A::ListProjects))]),
        ["projects", p] => pick(m, "DELETE", &[(Method::DELETE, a(A::DeleteProject(id(p, "project id")?)))]),
        ["projects", p, "apps"] => pick(m, "POST", &[(Method::POST, a(A::CreateApp(id(p, "project id")?)))]),
        ["projects", p, "quota"] => pick(m, "PUT", &[(Method::PUT, a(A::SetQuota(id(p, "project id")?)))]),
        ["apps"] => pick(m, "GET", &[(Method::GET, a(A::ListApps))]),
        ["keys"] => pick(m, "GET, POST", &[(Method::GET, a(A::ListKeys)), (Method::POST, a(A::CreateKey))]),
        ["keys", k] => pick(m, "DELETE", &[(Method::DELETE, a(A::RevokeKey(id(k, "key id")?)))]),
        ["jwt"] => pick(m, "POST", &[(Method::POST, a(A::MintJwt))]),
        ["tokens"] => pick(m, "GET, POST", &[(Method::GET, a(A::ListTokens)), (Method::POST, a(A::CreateToken))]),
        ["tokens", t] if t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            pick(m, "DELETE", &[(Method::DELETE, a(A::RevokeToken(t.to_ascii_lowercase())))])
        }
        ["tokens", _] => return Err(Route::BadRequest("token id must be 16 hex digits".into())),
        ["cleanup"] => pick(m, "POST", &[(Method::POST, a(A::Cleanup))]),
        ["backup"] => pick(m, "POST", &[(Method::POST, a(A::Backup))]),
        ["fsck"] => pick(m, "POST", &[(Method::POST, a(A::Fsck))]),
        _ => Route::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn table() {
        let aid: AttachmentId = ID.parse().unwrap();
        let cases: Vec<(Method, String, Route)> = vec![
            (Method::POST, "/v1/ingest/attachment".into(), Route::Reserve),
            (Method::GET, "/v1/ingest/attachment".into(), Route::MethodNotAllowed("POST")),
            (Method::PUT, format!("/v1/ingest/attachment/{ID}"), Route::Upload(aid)),
            (Method::PUT, format!("/v1/ingest/attachment/{}", ID.to_uppercase()), Route::Upload(aid)),
            (
                Method::PUT,
                "/v1/ingest/attachment/nope".into(),
                Route::BadRequest("attachment id must be a UUID".into()),
            ),
            (
                Method::PUT,
                "/v1/ingest/attachment/..%2F..%2Fetc".into(),
                Route::BadRequest("attachment id must be a UUID".into()),
            ),
            (Method::GET, "/v1/attachments".into(), Route::List),
            (Method::GET, "/v1/attachments/".into(), Route::List),
            (Method::GET, "/v1/attachments/download".into(), Route::Download),
            (Method::HEAD, "/v1/attachments/download".into(), Route::Download),
            (Method::POST, "/v1/attachments/link".into(), Route::Link),
            (Method::GET, format!("/v1/attachments/{ID}"), Route::Get(aid)),
            (Method::DELETE, format!("/v1/attachments/{ID}"), Route::Delete(aid)),
            (Method::POST, format!("/v1/attachments/{ID}"), Route::MethodNotAllowed("GET, HEAD, DELETE")),
            (Method::GET, "/v1/attachments/x".into(), Route::BadRequest("attachment id must be a UUID".into())),
            (Method::GET, format!("/v1/projects/{ID}/attachment-usage"), Route::Usage(ID.into())),
            (Method::PATCH, format!("/v1/projects/{ID}"), Route::PatchProject(ID.into())),
            (Method::GET, "/health".into(), Route::Health),
            (Method::GET, "/ready".into(), Route::Ready),
            (Method::GET, "/".into(), Route::NotFound),
            (Method::GET, "/v2/attachments".into(), Route::NotFound),
            (Method::POST, "/admin/v1/teams".into(), Route::Admin(AdminRoute::CreateTeam)),
            (Method::GET, "/admin/v1/tokens".into(), Route::Admin(AdminRoute::ListTokens)),
            (
                Method::DELETE,
                "/admin/v1/tokens/00AB0000000000ff".into(),
                Route::Admin(AdminRoute::RevokeToken("00ab0000000000ff".into())),
            ),
            (
                Method::DELETE,
                "/admin/v1/tokens/..%2f".into(),
                Route::BadRequest("token id must be 16 hex digits".into()),
            ),
            (Method::DELETE, format!("/admin/v1/keys/{ID}"), Route::Admin(AdminRoute::RevokeKey(ID.parse().unwrap()))),
            (
                Method::PUT,
                format!("/admin/v1/teams/{ID}/members/alice%40example.com"),
                Route::Admin(AdminRoute::SetMember(ID.parse().unwrap(), UserId("alice@example.com".into()))),
            ),
        ];
        for (m, p, want) in cases {
            assert_eq!(route(&m, &p), want, "{m} {p}");
        }
    }
}
