//! The admin API's routes (`/admin/v1/…`): method + path → a typed [`AdminRoute`], before any
//! I/O. Pure and table-tested.
//!
//! The admin front end claims every path under `/admin/`: one it does not know is its own 404,
//! so whether the admin API is mounted on a listener decides alone whether `/admin/…` exists
//! there. Path ids are parsed here; a malformed one is a 400.

use hyper::Method;

use crate::http::router::{pick, segments};
use crate::ids::{KeyId, ProjectId, TeamId, UserId};
use crate::model::ParentKind;
use crate::model::control::AliasKind;

/// A routed admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// An admin endpoint.
    Admin(AdminRoute),
    /// A known path with the wrong method; carries the `Allow` value.
    MethodNotAllowed(&'static str),
    /// A known path with a malformed parameter.
    BadRequest(String),
    /// A path under `/admin/` that is not an endpoint.
    NotFound,
}

impl Routed {
    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Routed::Admin(_) => "admin",
            Routed::MethodNotAllowed(_) => "method_not_allowed",
            Routed::BadRequest(_) => "bad_request",
            Routed::NotFound => "not_found",
        }
    }
}

/// The admin API's endpoints; paths are under `/admin/v1`.
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
    /// `PUT users/:user` (the user id percent-decoded)
    PutUser(UserId),
    /// `PUT projects/:project/aliases/:kind/:value` (the value percent-decoded)
    PutAlias(ProjectId, AliasKind, String),
    /// `GET projects/:project/parents`
    ListParents(ProjectId),
    /// `PUT projects/:project/parents/:kind/:id` (the id percent-decoded)
    PutParent(ProjectId, ParentKind, String),
    /// `DELETE projects/:project/parents/:kind/:id`
    DeleteParent(ProjectId, ParentKind, String),
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
    /// `GET scanner`
    Scanner,
    /// `GET|PUT|DELETE projects/:id/webhook`
    Webhook(Method, ProjectId),
    /// `GET|PUT|DELETE projects/:id/upload-policy`
    UploadPolicy(Method, ProjectId),
}

fn decoded(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

fn alias_kind(raw: &str) -> Result<AliasKind, Routed> {
    match raw {
        "space_slug" => Ok(AliasKind::SpaceSlug),
        "project_number" => Ok(AliasKind::ProjectNumber),
        _ => Err(Routed::BadRequest("alias kind must be space_slug or project_number".into())),
    }
}

fn parent_kind(raw: &str) -> Result<ParentKind, Routed> {
    match raw {
        "product" => Ok(ParentKind::Product),
        "ticket" => Ok(ParentKind::Ticket),
        "asset" => Ok(ParentKind::Asset),
        "project" => Ok(ParentKind::Project),
        _ => Err(Routed::BadRequest("parent kind must be product, ticket, asset or project".into())),
    }
}

fn id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, Routed> {
    raw.parse().map_err(|_| Routed::BadRequest(format!("{what} must be a UUID")))
}

/// Routes a request, or `None` for a path outside `/admin/`. `path` excludes the query.
pub fn route(m: &Method, path: &str) -> Option<Routed> {
    if !path.starts_with("/admin/") {
        return None;
    }
    let segs = segments(path);
    Some(match segs.as_slice() {
        ["admin", "v1", rest @ ..] => v1(m, rest).unwrap_or_else(|e| e),
        _ => Routed::NotFound,
    })
}

fn v1(m: &Method, rest: &[&str]) -> Result<Routed, Routed> {
    use AdminRoute as A;
    let p = |allow, table: &[(Method, A)]| pick(m, allow, table).map_or_else(Routed::MethodNotAllowed, Routed::Admin);
    Ok(match rest {
        ["teams"] => p("GET, POST", &[(Method::GET, A::ListTeams), (Method::POST, A::CreateTeam)]),
        ["teams", t, "projects"] => p("POST", &[(Method::POST, A::CreateProject(id(t, "team id")?))]),
        ["teams", t, "members"] => p("GET", &[(Method::GET, A::ListMembers(id(t, "team id")?))]),
        ["teams", t, "members", u] => {
            let t: TeamId = id(t, "team id")?;
            let u = UserId(decoded(u));
            p("PUT, DELETE", &[(Method::PUT, A::SetMember(t, u.clone())), (Method::DELETE, A::RemoveMember(t, u))])
        }
        ["projects"] => p("GET", &[(Method::GET, A::ListProjects)]),
        ["projects", pr] => p("DELETE", &[(Method::DELETE, A::DeleteProject(id(pr, "project id")?))]),
        ["projects", pr, "apps"] => p("POST", &[(Method::POST, A::CreateApp(id(pr, "project id")?))]),
        ["projects", pr, "quota"] => p("PUT", &[(Method::PUT, A::SetQuota(id(pr, "project id")?))]),
        ["projects", pr, "webhook"] => {
            let pr: ProjectId = id(pr, "project id")?;
            let table = [Method::GET, Method::PUT, Method::DELETE].map(|m| (m.clone(), A::Webhook(m, pr)));
            p("GET, PUT, DELETE", &table)
        }
        ["projects", pr, "upload-policy"] => {
            let pr: ProjectId = id(pr, "project id")?;
            let table = [Method::GET, Method::PUT, Method::DELETE].map(|m| (m.clone(), A::UploadPolicy(m, pr)));
            p("GET, PUT, DELETE", &table)
        }
        ["projects", pr, "aliases", kind, value] => {
            let a = A::PutAlias(id(pr, "project id")?, alias_kind(kind)?, decoded(value));
            p("PUT", &[(Method::PUT, a)])
        }
        ["projects", pr, "parents"] => p("GET", &[(Method::GET, A::ListParents(id(pr, "project id")?))]),
        ["projects", pr, "parents", kind, pid] => {
            let (pr, kind, pid): (ProjectId, _, _) = (id(pr, "project id")?, parent_kind(kind)?, decoded(pid));
            let (put, delete) = (A::PutParent(pr, kind, pid.clone()), A::DeleteParent(pr, kind, pid));
            p("PUT, DELETE", &[(Method::PUT, put), (Method::DELETE, delete)])
        }
        ["users", u] => p("PUT", &[(Method::PUT, A::PutUser(UserId(decoded(u))))]),
        ["apps"] => p("GET", &[(Method::GET, A::ListApps)]),
        ["keys"] => p("GET, POST", &[(Method::GET, A::ListKeys), (Method::POST, A::CreateKey)]),
        ["keys", k] => p("DELETE", &[(Method::DELETE, A::RevokeKey(id(k, "key id")?))]),
        ["jwt"] => p("POST", &[(Method::POST, A::MintJwt)]),
        ["tokens"] => p("GET, POST", &[(Method::GET, A::ListTokens), (Method::POST, A::CreateToken)]),
        ["tokens", t] if t.len() == 16 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            p("DELETE", &[(Method::DELETE, A::RevokeToken(t.to_ascii_lowercase()))])
        }
        ["tokens", _] => return Err(Routed::BadRequest("token id must be 16 hex digits".into())),
        ["cleanup"] => p("POST", &[(Method::POST, A::Cleanup)]),
        ["backup"] => p("POST", &[(Method::POST, A::Backup)]),
        ["fsck"] => p("POST", &[(Method::POST, A::Fsck)]),
        ["scanner"] => p("GET, HEAD", &[(Method::GET, A::Scanner)]),
        _ => Routed::NotFound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn table() {
        use AdminRoute as A;
        let admin = |a| Some(Routed::Admin(a));
        let cases: Vec<(Method, String, Option<Routed>)> = vec![
            (Method::POST, "/admin/v1/teams".into(), admin(A::CreateTeam)),
            (Method::GET, "/admin/v1/tokens".into(), admin(A::ListTokens)),
            (
                Method::DELETE,
                "/admin/v1/tokens/00AB0000000000ff".into(),
                admin(A::RevokeToken("00ab0000000000ff".into())),
            ),
            (
                Method::DELETE,
                "/admin/v1/tokens/..%2f".into(),
                Some(Routed::BadRequest("token id must be 16 hex digits".into())),
            ),
            (Method::DELETE, format!("/admin/v1/keys/{ID}"), admin(A::RevokeKey(ID.parse().unwrap()))),
            (
                Method::PUT,
                format!("/admin/v1/teams/{ID}/members/alice%40example.com"),
                admin(A::SetMember(ID.parse().unwrap(), UserId("alice@example.com".into()))),
            ),
            (
                Method::GET,
                "/admin/v1/teams/x/members".into(),
                Some(Routed::BadRequest("team id must be a UUID".into())),
            ),
            (Method::DELETE, "/admin/v1/teams".into(), Some(Routed::MethodNotAllowed("GET, POST"))),
            (
                Method::PUT,
                "/admin/v1/users/ann%40example.com".into(),
                admin(A::PutUser(UserId("ann@example.com".into()))),
            ),
            (
                Method::PUT,
                format!("/admin/v1/projects/{ID}/aliases/space_slug/acme"),
                admin(A::PutAlias(ID.parse().unwrap(), AliasKind::SpaceSlug, "acme".into())),
            ),
            (
                Method::PUT,
                format!("/admin/v1/projects/{ID}/aliases/nickname/acme"),
                Some(Routed::BadRequest("alias kind must be space_slug or project_number".into())),
            ),
            (
                Method::DELETE,
                format!("/admin/v1/projects/{ID}/parents/ticket/T%2F1"),
                admin(A::DeleteParent(ID.parse().unwrap(), ParentKind::Ticket, "T/1".into())),
            ),
            (
                Method::PUT,
                format!("/admin/v1/projects/{ID}/parents/session_point/x"),
                Some(Routed::BadRequest("parent kind must be product, ticket, asset or project".into())),
            ),
            (Method::POST, format!("/admin/v1/projects/{ID}/parents"), Some(Routed::MethodNotAllowed("GET"))),
            (Method::GET, "/admin/v1/nope".into(), Some(Routed::NotFound)),
            (Method::GET, "/admin/x".into(), Some(Routed::NotFound)),
            // Not this API's.
            (Method::GET, "/admin".into(), None),
            (Method::GET, "/v1/attachments".into(), None),
        ];
        for (m, p, want) in cases {
            assert_eq!(route(&m, &p), want, "{m} {p}");
        }
    }
}
