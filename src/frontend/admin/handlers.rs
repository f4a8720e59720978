//! The admin API's handlers: authenticate the admin token, read the JSON body, run the
//! operation, answer with its status and JSON. Request bodies are parsed here (unknown fields
//! refused); slow operations (project deletion, backup, fsck, cleanup) run on blocking threads.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json as j};

use crate::clock::Timestamp;
use crate::frontend::views::{admin_token, project_quotas};
use crate::ids::{AppId, ProjectId, TeamId, UserId};
use crate::model::control::KeyKind;
use crate::service::admin::NewKey;
use crate::service::{Role, Service, ServiceError};

use crate::http::body::read_json_request;
use crate::http::{Reply, json};

use super::AdminApi;
use super::route::AdminRoute;

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

/// `POST keys`: the admin API's body for [`NewKey`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKeyBody {
    kind: KeyKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    app_id: Option<AppId>,
    #[serde(default)]
    team_id: Option<TeamId>,
    #[serde(default)]
    user_id: Option<UserId>,
    #[serde(default)]
    project_id: Option<ProjectId>,
    #[serde(default)]
    permissions: Option<Vec<String>>,
    #[serde(default)]
    expires_in_secs: Option<u64>,
}

impl From<NewKeyBody> for NewKey {
    fn from(b: NewKeyBody) -> Self {
        let NewKeyBody { kind, name, app_id, team_id, user_id, project_id, permissions, expires_in_secs } = b;
        NewKey { kind, name, app_id, team_id, user_id, project_id, permissions, expires_in_secs }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParentBody {
    #[serde(default)]
    owner: Option<UserId>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtBody {
    sub: String,
    #[serde(default)]
    ttl_secs: Option<u64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
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
pub async fn handle(api: &AdminApi, route: AdminRoute, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let token = crate::http::auth::bearer(req.headers())?;
    api.service.authenticate_admin(&token)?;
    let v = read_json_request(req, &api.cfg).await?;
    let (status, out) = dispatch(api, route, v).await?;
    Ok(json(status, &out))
}

/// Runs an authenticated admin request on its JSON body `v`: the status and body to answer with.
async fn dispatch(api: &AdminApi, route: AdminRoute, v: Value) -> Result<(StatusCode, Value), ServiceError> {
    let svc = &api.service;
    use AdminRoute as A;
    Ok(match route {
        A::ListTeams => (StatusCode::OK, j!({ "teams": svc.teams()? })),
        A::CreateTeam => (StatusCode::CREATED, j!(svc.create_team(parse::<Named>(v)?.name)?)),
        A::CreateProject(t) => {
            (StatusCode::CREATED, project_quotas(&svc.project_quotas(svc.create_project(t, parse::<Named>(v)?.name)?)))
        }
        A::ListProjects => {
            let ps: Vec<_> = svc.projects()?.into_iter().map(|p| project_quotas(&svc.project_quotas(p))).collect();
            (StatusCode::OK, j!({ "projects": ps }))
        }
        A::DeleteProject(p) => (StatusCode::OK, delete_project(svc, p).await?),
        A::SetQuota(p) => {
            let proj = quota_field(&v, "project_bytes")?;
            let user = quota_field(&v, "user_bytes")?;
            (StatusCode::OK, project_quotas(&svc.project_quotas(svc.set_quotas(p, proj, user)?)))
        }
        A::CreateApp(p) => (StatusCode::CREATED, j!(svc.create_app(p, parse::<Named>(v)?.name)?)),
        A::ListApps => (StatusCode::OK, j!({ "apps": svc.apps()? })),
        A::ListKeys => (StatusCode::OK, j!({ "keys": svc.api_keys()? })),
        A::CreateKey => {
            let (key, secret) = svc.create_key(parse::<NewKeyBody>(v)?.into())?;
            (StatusCode::CREATED, j!({ "key": key, "secret": secret }))
        }
        A::RevokeKey(k) => (StatusCode::OK, j!(svc.revoke_key(k)?)),
        A::ListMembers(t) => {
            let ms: Vec<_> = svc.members(&t)?.into_iter().map(|(u, r)| j!({"user_id": u.0, "role": r})).collect();
            (StatusCode::OK, j!({ "members": ms }))
        }
        A::SetMember(t, u) => (StatusCode::OK, set_member(svc, t, u, v)?),
        A::RemoveMember(t, u) => {
            svc.remove_member(t, u)?;
            (StatusCode::OK, j!({"ok": true}))
        }
        A::PutUser(u) => {
            let b = parse::<UserBody>(v)?;
            (StatusCode::OK, j!(svc.put_user(u, b.name, b.email)?))
        }
        A::PutAlias(p, kind, value) => {
            let value = svc.put_alias(p, kind, &value)?;
            (StatusCode::OK, j!({"project_id": p, "kind": kind, "value": value}))
        }
        A::ListParents(p) => (StatusCode::OK, j!({ "parents": svc.parents(p)? })),
        A::PutParent(p, kind, id) => {
            let owner = parse::<ParentBody>(v)?.owner;
            (StatusCode::OK, j!(svc.put_parent(p, kind, &id, owner)?))
        }
        A::DeleteParent(p, kind, id) => (StatusCode::OK, j!(svc.delete_parent(p, kind, &id)?)),
        A::MintJwt => (StatusCode::OK, mint_jwt(svc, v)?),
        A::ListTokens => {
            let ts: Vec<Value> = svc.admin_tokens()?.iter().map(admin_token).collect();
            (StatusCode::OK, j!({ "tokens": ts }))
        }
        A::CreateToken => (StatusCode::CREATED, create_admin_token(svc, v)?),
        A::RevokeToken(id) => (StatusCode::OK, admin_token(&svc.revoke_admin_token(&id)?)),
        A::Backup => (StatusCode::OK, backup(svc, v).await?),
        A::Fsck => (StatusCode::OK, fsck(svc).await?),
        A::Webhook(m, p) => (StatusCode::OK, webhook(svc, m, p, v)?),
        A::UploadPolicy(m, p) => {
            let policy = match m {
                Method::PUT => svc.set_upload_policy(p, Some(parse::<UploadPolicyBody>(v)?.into()))?,
                Method::DELETE => svc.set_upload_policy(p, None)?,
                _ => svc.upload_policy(&p)?,
            };
            (StatusCode::OK, j!({"project_id": p, "policy": policy}))
        }
        A::Scanner => {
            let s = svc.scanner_status().await?;
            (StatusCode::OK, j!({"configured": s.configured, "reachable": s.reachable, "queue_depth": s.queue_depth}))
        }
        A::Cleanup => {
            let report = (api.cleanup)().await.map_err(|e| ServiceError::Internal(format!("cleanup task: {e}")))?;
            (StatusCode::OK, report)
        }
    })
}

/// `PUT projects/:p/upload-policy`: a project's overrides of the signed-URL API's defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadPolicyBody {
    max_bytes: Option<u64>,
    allowed_types: Option<Vec<String>>,
    upload_url_ttl_secs: Option<u64>,
}

impl From<UploadPolicyBody> for crate::model::UploadPolicy {
    fn from(b: UploadPolicyBody) -> Self {
        Self { max_bytes: b.max_bytes, allowed_types: b.allowed_types, upload_url_ttl_secs: b.upload_url_ttl_secs }
    }
}

/// `GET|PUT|DELETE projects/:p/webhook`: the webhook (its secret only when set), set from
/// `{"url"}`, or removed.
fn webhook(svc: &Service, m: Method, p: ProjectId, v: Value) -> Result<Value, ServiceError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        url: String,
    }
    let not_found = || ServiceError::EntityNotFound("Webhook");
    Ok(match m {
        Method::PUT => {
            let w = svc.set_webhook(p, &parse::<Body>(v)?.url)?;
            j!({"project_id": w.project_id, "url": w.url, "secret": w.secret, "created_at": w.created_at.to_iso()})
        }
        Method::DELETE => {
            if !svc.delete_webhook(p)? {
                return Err(not_found());
            }
            j!({"ok": true})
        }
        _ => {
            let w = svc.webhook(&p)?.ok_or_else(not_found)?;
            j!({"project_id": w.project_id, "url": w.url, "created_at": w.created_at.to_iso()})
        }
    })
}

/// Runs `f` on a blocking thread; a panic there is an internal error naming the `what` task.
async fn run_blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ServiceError::Internal(format!("{what} task: {e}")))?
}

/// Soft-deletes project `p` (on a blocking thread); answers with the project.
async fn delete_project(svc: &Arc<Service>, p: ProjectId) -> Result<Value, ServiceError> {
    let svc = svc.clone();
    Ok(j!(run_blocking("delete", move || svc.delete_project(p)).await?))
}

/// Gives user `u` the role in `v` on team `t`; answers with the membership.
fn set_member(svc: &Service, t: TeamId, u: UserId, v: Value) -> Result<Value, ServiceError> {
    let role = parse::<RoleBody>(v)?.role;
    svc.set_member(t, u.clone(), role)?;
    Ok(j!({"team_id": t, "user_id": u.0, "role": role}))
}

/// Mints a test JWT for the subject in `v` (with its `name` and `email` claims if given),
/// valid for its `ttl_secs` (default one hour).
fn mint_jwt(svc: &Service, v: Value) -> Result<Value, ServiceError> {
    let b = parse::<JwtBody>(v)?;
    let exp = Timestamp::now().as_secs().saturating_add(b.ttl_secs.unwrap_or(3600));
    Ok(j!({"token": svc.mint_jwt(&b.sub, exp, b.name.as_deref(), b.email.as_deref())}))
}

/// Adds an admin token named in `v` (the name is required); answers with it and its secret.
fn create_admin_token(svc: &Service, v: Value) -> Result<Value, ServiceError> {
    let name = parse::<Named>(v)?.name.ok_or_else(|| ServiceError::BadParameter("name is required".into()))?;
    let (token, secret) = svc.add_admin_token(&name)?;
    Ok(j!({ "token": admin_token(&token), "secret": secret }))
}

/// Writes a backup (on a blocking thread) named as `v` says, or after the current time.
async fn backup(svc: &Arc<Service>, v: Value) -> Result<Value, ServiceError> {
    let b = parse::<BackupBody>(v)?;
    let name = b.name.unwrap_or_else(|| Timestamp::now().to_iso().replace(':', "-"));
    let svc = svc.clone();
    Ok(j!(run_blocking("backup", move || svc.backup(&name)).await?))
}

/// Checks the data directory without repairing (on a blocking thread); answers with the report.
async fn fsck(svc: &Arc<Service>) -> Result<Value, ServiceError> {
    let svc = svc.clone();
    Ok(j!(run_blocking("fsck", move || svc.fsck(false)).await?))
}
