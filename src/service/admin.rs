//! The control plane: teams, projects, apps, API keys, members, admin tokens, quota overrides.
//!
//! Used by the admin HTTP API (behind the admin token), `attachd admin …` (which calls that API)
//! and the first-start bootstrap. Secrets are 32 random bytes, hex-encoded behind a prefix that
//! says what they are; only their SHA-256 is stored, and the plaintext is returned exactly once.

use crate::clock::Timestamp;
use crate::ids::{AppId, KeyId, ProjectId, TeamId, UserId};
use crate::model::After;
use crate::model::control::{AdminToken, ApiKey, App, ControlChange, KeyKind, Project, Role, Team};

use super::auth::{
    ADMIN_TOKEN_PREFIX, AGENT_KEY_PREFIX, CLIENT_KEY_PREFIX, EVENTS_READ, EVENTS_WRITE, PROJECTS_WRITE,
    USER_KEY_PREFIX, secret_hash,
};
use super::{Result, Service, ServiceError};

/// Permissions a client key may hold.
pub const CLIENT_PERMISSIONS: [&str; 1] = [EVENTS_WRITE];
/// Permissions an agent key may hold.
pub const AGENT_PERMISSIONS: [&str; 3] = [EVENTS_READ, EVENTS_WRITE, PROJECTS_WRITE];

/// A request to create a key.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// `client` or `agent`.
    pub kind: KeyKind,
    /// Display name.
    pub name: Option<String>,
    /// Required for client keys.
    pub app_id: Option<AppId>,
    /// Required for agent keys.
    pub team_id: Option<TeamId>,
    /// Required for user keys: the user the key acts as.
    pub user_id: Option<UserId>,
    /// Required for user keys: the project it acts in.
    pub project_id: Option<ProjectId>,
    /// Defaults: client `[events:write]`, agent `[events:read]`; a user key holds none of these
    /// (it acts as its user in the APIs that name who uploaded).
    pub permissions: Option<Vec<String>>,
    /// Optional expiry, seconds from now.
    pub expires_in_secs: Option<u64>,
}

/// Who a new key acts for.
struct KeyScope {
    team_id: TeamId,
    app_id: Option<AppId>,
    user_id: Option<UserId>,
    project_id: Option<ProjectId>,
}

/// 32 random bytes as 64 hex characters.
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("the OS random source works");
    hex::encode(b)
}

fn name_or(name: Option<String>, default: &str) -> Result<String> {
    let n = name.unwrap_or_else(|| default.to_string());
    if n.trim().is_empty() || n.chars().count() > 200 || n.chars().any(char::is_control) {
        return Err(ServiceError::BadParameter("name must be 1–200 printable characters".into()));
    }
    Ok(n)
}

impl Service {
    /// Every team.
    pub fn teams(&self) -> Result<Vec<Team>> {
        Ok(self.catalog.teams()?)
    }

    /// Every project, deleted ones included.
    pub fn projects(&self) -> Result<Vec<Project>> {
        Ok(self.catalog.projects()?)
    }

    /// Every app.
    pub fn apps(&self) -> Result<Vec<App>> {
        Ok(self.catalog.apps()?)
    }

    /// Every API key (hashes only; secrets are never stored).
    pub fn api_keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self.catalog.api_keys()?)
    }

    /// A team's members and their roles.
    pub fn members(&self, team: &TeamId) -> Result<Vec<(UserId, Role)>> {
        Ok(self.catalog.members(team)?)
    }

    /// Creates a team.
    pub fn create_team(&self, name: Option<String>) -> Result<Team> {
        let t = Team { id: TeamId::random(), name: name_or(name, "team")?, created_at: Timestamp::now() };
        self.commit_control(vec![ControlChange::PutTeam(t.clone())])?;
        Ok(t)
    }

    /// Creates a project in a team.
    pub fn create_project(&self, team: TeamId, name: Option<String>) -> Result<Project> {
        self.catalog.team(&team)?.ok_or(ServiceError::EntityNotFound("Team"))?;
        let p = Project {
            id: ProjectId::random(),
            team_id: team,
            name: name_or(name, "project")?,
            created_at: Timestamp::now(),
            deleted_at: None,
            project_quota_bytes: None,
            user_quota_bytes: None,
        };
        self.commit_control(vec![ControlChange::PutProject(p.clone())])?;
        Ok(p)
    }

    /// Soft-deletes a project and all its attachments (reclaimed by cleanup after the grace).
    pub fn delete_project(&self, id: ProjectId) -> Result<Project> {
        self.catalog.project(&id)?.ok_or(ServiceError::EntityNotFound("Project"))?;
        // The catalog orders a project change with the project's reserves, so none commits
        // into the project after this point unseen by the listing below.
        self.commit_control(vec![ControlChange::DeleteProject { project: id, at: Timestamp::now() }])?;
        let p = self.catalog.project(&id)?.ok_or(ServiceError::EntityNotFound("Project"))?;
        // Its attachments are soft-deleted too, so cleanup reclaims their bytes after the grace
        // period like any other deleted attachment (the reference never did).
        let rows: Vec<_> = self.catalog.list_project(&id, After::Start).collect::<std::result::Result<_, _>>()?;
        for row in rows {
            self.soft_delete_blocking(row.id)?;
        }
        Ok(p)
    }

    /// Creates an app in a project.
    pub fn create_app(&self, project: ProjectId, name: Option<String>) -> Result<App> {
        let p = self
            .catalog
            .project(&project)?
            .filter(|p| p.deleted_at.is_none())
            .ok_or(ServiceError::EntityNotFound("Project"))?;
        let a = App {
            id: AppId::random(),
            project_id: p.id,
            team_id: p.team_id,
            name: name_or(name, "app")?,
            created_at: Timestamp::now(),
            deleted_at: None,
        };
        self.commit_control(vec![ControlChange::PutApp(a.clone())])?;
        Ok(a)
    }

    /// Creates a key; returns it with its secret (shown once).
    pub fn create_key(&self, req: NewKey) -> Result<(ApiKey, String)> {
        if req.kind == KeyKind::User {
            return self.create_user_key(req);
        }
        if req.user_id.is_some() || req.project_id.is_some() {
            return Err(ServiceError::BadParameter("only user keys take user_id and project_id".into()));
        }
        let (team_id, app_id, prefix, allowed, default): (TeamId, Option<AppId>, &str, &[&str], &str) = match req.kind {
            KeyKind::Client => {
                let app_id = req.app_id.ok_or_else(|| ServiceError::BadParameter("client keys need app_id".into()))?;
                let app = self
                    .catalog
                    .app(&app_id)?
                    .filter(|a| a.deleted_at.is_none())
                    .ok_or(ServiceError::EntityNotFound("App"))?;
                (app.team_id, Some(app_id), CLIENT_KEY_PREFIX, &CLIENT_PERMISSIONS, EVENTS_WRITE)
            }
            KeyKind::Agent => {
                if req.app_id.is_some() {
                    return Err(ServiceError::BadParameter("agent keys are team-scoped; omit app_id".into()));
                }
                let team = req.team_id.ok_or_else(|| ServiceError::BadParameter("agent keys need team_id".into()))?;
                self.catalog.team(&team)?.ok_or(ServiceError::EntityNotFound("Team"))?;
                (team, None, AGENT_KEY_PREFIX, &AGENT_PERMISSIONS, EVENTS_READ)
            }
            KeyKind::User => unreachable!("user keys are created by create_user_key"),
        };
        let permissions = req.permissions.unwrap_or_else(|| vec![default.to_string()]);
        if permissions.is_empty() {
            return Err(ServiceError::BadParameter("permissions must not be empty".into()));
        }
        if let Some(bad) = permissions.iter().find(|p| !allowed.contains(&p.as_str())) {
            return Err(ServiceError::BadParameter(
                format!("a {:?} key cannot hold permission {bad}", req.kind).to_lowercase(),
            ));
        }
        let scope = KeyScope { team_id, app_id, user_id: None, project_id: None };
        self.store_key(req.kind, req.name, prefix, permissions, scope, req.expires_in_secs)
    }

    /// A key bound to a user in a project: no app, no seed-000 permission.
    fn create_user_key(&self, req: NewKey) -> Result<(ApiKey, String)> {
        if req.app_id.is_some() || req.team_id.is_some() || req.permissions.as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(ServiceError::BadParameter(
                "user keys take user_id and project_id only (no app_id, team_id or permissions)".into(),
            ));
        }
        let user = req.user_id.ok_or_else(|| ServiceError::BadParameter("user keys need user_id".into()))?;
        let project = req.project_id.ok_or_else(|| ServiceError::BadParameter("user keys need project_id".into()))?;
        self.catalog.user(&user)?.ok_or(ServiceError::EntityNotFound("User"))?;
        let p = (self.catalog.project(&project)?)
            .filter(|p| p.deleted_at.is_none())
            .ok_or(ServiceError::EntityNotFound("Project"))?;
        let scope = KeyScope { team_id: p.team_id, app_id: None, user_id: Some(user), project_id: Some(project) };
        self.store_key(KeyKind::User, req.name, USER_KEY_PREFIX, Vec::new(), scope, req.expires_in_secs)
    }

    fn store_key(
        &self,
        kind: KeyKind,
        name: Option<String>,
        prefix: &str,
        permissions: Vec<String>,
        scope: KeyScope,
        expires_in_secs: Option<u64>,
    ) -> Result<(ApiKey, String)> {
        let secret = format!("{prefix}{}", random_secret());
        let hash = secret_hash(&secret);
        let now = Timestamp::now();
        let key = ApiKey {
            id: KeyId::random(),
            kind,
            name: name_or(name, "key")?,
            team_id: scope.team_id,
            app_id: scope.app_id,
            permissions,
            secret_prefix: secret[..prefix.len() + 6].to_string(),
            secret_sha256: hex::encode(hash),
            created_at: now,
            revoked_at: None,
            expires_at: expires_in_secs.map(|s| now.plus(std::time::Duration::from_secs(s))),
            user_id: scope.user_id,
            project_id: scope.project_id,
        };
        self.commit_control(vec![ControlChange::PutApiKey { key: key.clone(), secret_sha256: hash }])?;
        Ok((key, secret))
    }

    /// Revokes a key (it stops authenticating at once).
    pub fn revoke_key(&self, id: KeyId) -> Result<ApiKey> {
        let mut k = self.catalog.api_key(&id)?.ok_or(ServiceError::EntityNotFound("Key"))?;
        k.revoked_at.get_or_insert(Timestamp::now());
        self.commit_control(vec![ControlChange::UpdateApiKey(k.clone())])?;
        Ok(k)
    }

    /// Sets a user's role in a team.
    pub fn set_member(&self, team: TeamId, user: UserId, role: Role) -> Result<()> {
        self.catalog.team(&team)?.ok_or(ServiceError::EntityNotFound("Team"))?;
        if user.0.is_empty() || user.0.len() > 255 || user.0.contains('\0') {
            return Err(ServiceError::BadParameter("user id must be 1–255 bytes without NUL".into()));
        }
        self.commit_control(vec![ControlChange::PutMember { team, user, role }])?;
        Ok(())
    }

    /// Removes a user from a team.
    pub fn remove_member(&self, team: TeamId, user: UserId) -> Result<()> {
        self.commit_control(vec![ControlChange::DeleteMember { team, user }])?;
        Ok(())
    }

    /// Creates an admin token; returns its secret (shown once).
    pub fn create_admin_token(&self, name: &str) -> Result<String> {
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ServiceError::BadParameter("name must be 1-100 characters".into()));
        }
        let secret = format!("{ADMIN_TOKEN_PREFIX}{}", random_secret());
        let token = AdminToken { name: name.to_string(), created_at: Timestamp::now() };
        self.commit_control(vec![ControlChange::PutAdminToken { sha256: secret_hash(&secret), token }])?;
        Ok(secret)
    }
}

/// An admin token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTokenView {
    /// Stable id: the first 8 bytes of the secret's SHA-256, in hex.
    pub id: String,
    /// What the operator called it.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

fn token_view(hash: &[u8; 32], t: &AdminToken) -> AdminTokenView {
    let id = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    AdminTokenView { id, name: t.name.clone(), created_at: t.created_at }
}

impl Service {
    /// Every admin token (admin API), oldest first.
    pub fn admin_tokens(&self) -> Result<Vec<AdminTokenView>> {
        let mut all = self.catalog.admin_tokens()?;
        all.sort_by_key(|(_, t)| t.created_at);
        Ok(all.iter().map(|(h, t)| token_view(h, t)).collect())
    }

    /// Creates an admin token; the secret is returned once and stored only as its hash.
    pub fn add_admin_token(&self, name: &str) -> Result<(AdminTokenView, String)> {
        let secret = self.create_admin_token(name)?;
        let hash = secret_hash(&secret);
        let t = self.catalog.admin_token(&hash)?.ok_or(ServiceError::EntityNotFound("Admin token"))?;
        Ok((token_view(&hash, &t), secret))
    }

    /// Revokes the admin token with `id`; takes effect on the next request (admin requests
    /// read the catalog, never a cache). The last token cannot be revoked: that would leave no
    /// way in but the data directory.
    pub fn revoke_admin_token(&self, id: &str) -> Result<AdminTokenView> {
        // One revocation at a time: two concurrent ones must not both see "not the last".
        let _one_at_a_time = self.admin_token_lock.lock().unwrap_or_else(|e| e.into_inner());
        let all = self.catalog.admin_tokens()?;
        let (hash, t) =
            all.iter().find(|(h, t)| token_view(h, t).id == id).ok_or(ServiceError::EntityNotFound("Admin token"))?;
        if all.len() == 1 {
            return Err(ServiceError::Conflict(
                "the last admin token cannot be revoked: create its replacement first".into(),
            ));
        }
        self.commit_control(vec![ControlChange::DeleteAdminToken(*hash)])?;
        tracing::info!(token = id, name = %t.name, "admin token revoked");
        Ok(token_view(hash, t))
    }
}

impl Service {
    /// Mints a user JWT signed with the configured secret (admin API; for dashboards and tests).
    pub fn mint_jwt(&self, sub: &str, exp_unix: u64, name: Option<&str>, email: Option<&str>) -> String {
        self.jwt.mint_with_profile(sub, exp_unix, name, email)
    }
}
