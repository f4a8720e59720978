//! The admin API (`/admin/v1/…`), behind the admin token from `bootstrap.json`: teams,
//! projects, apps, keys, members, quota overrides, test JWTs, admin tokens (rotation and
//! revocation), backups, fsck and on-demand cleanup. Served only where `server.admin_api`
//! says (the ops listener by default).

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json as j};

use crate::clock::Timestamp;
use crate::index::control::Role;
use crate::service::ServiceError;
use crate::service::admin::NewKey;

use super::body::{RespBody, read_json_request};
use super::route::AdminRoute;
use super::{HttpState, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: Role,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtBody {
    sub: String,
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupBody {
    /// The backup's directory name under `storage.backup_dir` (default: the current time).
    #[serde(default)]
    name: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ServiceError> {
    let v = if v.is_null() { Value::Object(Default::default()) } else { v };
    serde_json::from_value(v).map_err(|e| ServiceError::BadJson(format!("Invalid request body: {e}")))
}

/// Largest quota override the admin API accepts (2^62 bytes): counters stay far from overflow.
const MAX_ADMIN_QUOTA: u64 = 1 << 62;

/// `Some(None)` for an explicit null, `Some(Some(n))` for a non-negative integer.
fn quota_field(v: &Value, name: &str) -> Result<Option<Option<u64>>, ServiceError> {
    match v.get(name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(x) => x
            .as_u64()
            .filter(|&n| n <= MAX_ADMIN_QUOTA)
            .map(|n| Some(Some(n)))
            .ok_or_else(|| ServiceError::BadParameter(format!("{name} must be an integer from 0 to 2^62, or null"))),
    }
}

/// Dispatches an admin request.
pub async fn handle(
    state: &Arc<HttpState>,
    route: AdminRoute,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ServiceError> {
    let token = super::auth::bearer(req.headers())?;
    state.service.authenticate_admin(&token)?;
    let v = read_json_request(req, &state.cfg).await?;
    let svc = &state.service;
    let idx = svc.index();
    use AdminRoute as A;
    let (status, out) = match route {
        A::ListTeams => (StatusCode::OK, j!({ "teams": idx.teams()? })),
        A::CreateTeam => (StatusCode::CREATED, j!(svc.create_team(parse::<Named>(v)?.name)?)),
        A::CreateProject(t) => {
            (StatusCode::CREATED, j!(svc.project_view(svc.create_project(t, parse::<Named>(v)?.name)?)))
        }
        A::ListProjects => {
            let ps: Vec<_> = idx.projects()?.into_iter().map(|p| svc.project_view(p)).collect();
            (StatusCode::OK, j!({ "projects": ps }))
        }
        A::DeleteProject(p) => {
            let svc = svc.clone();
            let project = tokio::task::spawn_blocking(move || svc.delete_project(p))
                .await
                .map_err(|e| ServiceError::Internal(format!("delete task: {e}")))??;
            (StatusCode::OK, j!(project))
        }
        A::SetQuota(p) => {
            let proj = quota_field(&v, "project_bytes")?;
            let user = quota_field(&v, "user_bytes")?;
            (StatusCode::OK, j!(svc.project_view(svc.set_quotas(p, proj, user)?)))
        }
        A::CreateApp(p) => (StatusCode::CREATED, j!(svc.create_app(p, parse::<Named>(v)?.name)?)),
        A::ListApps => (StatusCode::OK, j!({ "apps": idx.apps()? })),
        A::ListKeys => (StatusCode::OK, j!({ "keys": idx.api_keys()? })),
        A::CreateKey => {
            let (key, secret) = svc.create_key(parse::<NewKey>(v)?)?;
            (StatusCode::CREATED, j!({ "key": key, "secret": secret }))
        }
        A::RevokeKey(k) => (StatusCode::OK, j!(svc.revoke_key(k)?)),
        A::ListMembers(t) => {
            let ms: Vec<_> = idx.members(&t)?.into_iter().map(|(u, r)| j!({"user_id": u.0, "role": r})).collect();
            (StatusCode::OK, j!({ "members": ms }))
        }
        A::SetMember(t, u) => {
            let role = parse::<RoleBody>(v)?.role;
            svc.set_member(t, u.clone(), role)?;
            (StatusCode::OK, j!({"team_id": t, "user_id": u.0, "role": role}))
        }
        A::RemoveMember(t, u) => {
            svc.remove_member(t, u)?;
            (StatusCode::OK, j!({"ok": true}))
        }
        A::MintJwt => {
            let b = parse::<JwtBody>(v)?;
            let exp = Timestamp::now().as_secs().saturating_add(b.ttl_secs.unwrap_or(3600));
            (StatusCode::OK, j!({"token": svc.mint_jwt(&b.sub, exp)}))
        }
        A::ListTokens => (StatusCode::OK, j!({ "tokens": svc.admin_tokens()? })),
        A::CreateToken => {
            let name = parse::<Named>(v)?.name.ok_or_else(|| ServiceError::BadParameter("name is required".into()))?;
            let (token, secret) = svc.add_admin_token(&name)?;
            (StatusCode::CREATED, j!({ "token": token, "secret": secret }))
        }
        A::RevokeToken(id) => (StatusCode::OK, j!(svc.revoke_admin_token(&id)?)),
        A::Backup => {
            let b = parse::<BackupBody>(v)?;
            let name = b.name.unwrap_or_else(|| Timestamp::now().to_iso().replace(':', "-"));
            let svc = svc.clone();
            let report = tokio::task::spawn_blocking(move || svc.backup(&name))
                .await
                .map_err(|e| ServiceError::Internal(format!("backup task: {e}")))??;
            (StatusCode::OK, j!(report))
        }
        A::Fsck => {
            let svc = svc.clone();
            let report = tokio::task::spawn_blocking(move || svc.fsck(false))
                .await
                .map_err(|e| ServiceError::Internal(format!("fsck task: {e}")))??;
            (StatusCode::OK, j!(report))
        }
        A::Cleanup => {
            let report = (state.cleanup)().await.map_err(|e| ServiceError::Internal(format!("cleanup task: {e}")))?;
            (StatusCode::OK, report)
        }
    };
    Ok(json(status, &out))
}
