//! Who is calling, and what they may touch.
//!
//! A bearer token is an API key when it starts with a key prefix (`owl_client_`, `owl_agent_`),
//! otherwise a user JWT. Keys are found by the SHA-256 of the presented secret. Scope rules
//! (owlmetry-notes §1–2, tightened): a client key sees only its own app's attachments; an agent
//! key sees its team; a user sees the teams they are a member of. Anything outside scope is
//! reported as "not found", so existence never leaks across teams.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::ids::{AppId, ProjectId, TeamId, UserId};
use crate::model::control::{ApiKey, KeyKind, Project, Role};

use super::{Result, Service, ServiceError};

/// Prefix of client (app-scoped, ingest) key secrets.
pub const CLIENT_KEY_PREFIX: &str = "owl_client_";
/// Prefix of agent (team-scoped, read) key secrets.
pub const AGENT_KEY_PREFIX: &str = "owl_agent_";
/// Prefix of import keys (recognised, but attachd never issues them).
pub const IMPORT_KEY_PREFIX: &str = "owl_import_";
/// Prefix of user-bound key secrets (for the APIs that name who uploaded; the seed-000 API does
/// not take them).
pub const USER_KEY_PREFIX: &str = "attachd_user_";
/// Prefix of admin tokens.
pub const ADMIN_TOKEN_PREFIX: &str = "attachd_admin_";

/// Permission to reserve, upload, delete and link.
pub const EVENTS_WRITE: &str = "events:write";
/// Permission to list, fetch and read usage.
pub const EVENTS_READ: &str = "events:read";
/// Permission to change project quota settings.
pub const PROJECTS_WRITE: &str = "projects:write";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// An API key.
    Key(Arc<ApiKey>),
    /// A dashboard user and their team roles.
    User {
        /// The `sub` claim.
        id: UserId,
        /// Team memberships.
        teams: Vec<(TeamId, Role)>,
    },
}

impl Principal {
    /// Fails unless the caller holds `perm` (users always pass; roles are checked separately).
    pub fn require(&self, perm: &'static str) -> Result<()> {
        match self {
            Principal::Key(k) if !k.permissions.iter().any(|p| p == perm) => Err(ServiceError::MissingPermission(perm)),
            _ => Ok(()),
        }
    }

    /// The app a client key is scoped to.
    pub fn app_scope(&self) -> Result<(AppId, &ApiKey)> {
        match self {
            Principal::Key(k) => k.app_id.map(|a| (a, &**k)).ok_or(ServiceError::KeyNotAppScoped),
            Principal::User { .. } => Err(ServiceError::KeyNotAppScoped),
        }
    }

    /// Teams the caller can see.
    pub fn teams(&self) -> Vec<TeamId> {
        match self {
            Principal::Key(k) => vec![k.team_id],
            Principal::User { teams, .. } => teams.iter().map(|(t, _)| *t).collect(),
        }
    }

    /// Whether an attachment of `team`/`app` is visible to the caller.
    pub fn can_see(&self, team: TeamId, app: AppId) -> bool {
        match self {
            Principal::Key(k) => k.team_id == team && k.app_id.is_none_or(|a| a == app),
            Principal::User { teams, .. } => teams.iter().any(|(t, _)| *t == team),
        }
    }

    /// Whether an attachment of `team` (reserved by `app`, if it was) is visible: an
    /// app-scoped key sees only its app's attachments.
    pub fn can_see_app(&self, team: TeamId, app: Option<AppId>) -> bool {
        match (self, app) {
            (_, Some(app)) => self.can_see(team, app),
            (Principal::Key(k), None) => k.team_id == team && k.app_id.is_none(),
            (Principal::User { teams, .. }, None) => teams.iter().any(|(t, _)| *t == team),
        }
    }

    /// For users, that their role on `team` is at least `min`; keys pass (the reference skips
    /// role checks for keys; their permissions were checked already).
    pub fn require_role(&self, team: TeamId, min: Role) -> Result<()> {
        match self {
            Principal::Key(_) => Ok(()),
            Principal::User { teams, .. } => match teams.iter().find(|(t, _)| *t == team) {
                None => Err(ServiceError::Forbidden("Not a member of this team")),
                Some((_, r)) if *r < min => Err(ServiceError::Forbidden(match min {
                    Role::Member => "Requires member role or higher",
                    Role::Admin => "Requires admin role or higher",
                    Role::Owner => "Requires owner role",
                })),
                Some(_) => Ok(()),
            },
        }
    }

    /// A short label for logs (never a secret).
    pub fn label(&self) -> String {
        match self {
            Principal::Key(k) => format!("key:{}", k.id),
            Principal::User { id, .. } => format!("user:{}", id.0),
        }
    }
}

/// An operation whose caller is admitted before its input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Reserve an attachment: `events:write`, the rate limit, an app-scoped key.
    Reserve,
    /// List attachments: `events:read`, the rate limit.
    List,
    /// Link a client event id to an event: `events:write`.
    Link,
    /// Read the caller's own files (the status and bytes of a signed-URL file): an app-scoped
    /// key and the rate limit.
    OwnFiles,
    /// Change a project's quota overrides: `projects:write`, the project visible, and for a
    /// user, the admin role on its team.
    SetQuotas(ProjectId),
}

/// A caller admitted to one operation: its permission, rate limit and scope checks passed.
/// Only [`Service::authorize`] makes one, so an operation that takes one cannot be reached
/// around its checks. A front end admits first and parses the operation's input after, which
/// keeps its reference's order of errors: a caller who may not run the operation is told so
/// before anything about the input.
#[derive(Debug)]
pub struct Admitted {
    principal: Principal,
    op: Op,
}

impl Admitted {
    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The operation admitted to.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The caller, if this admission is for `op` (a mismatch is a bug in the caller's code).
    pub(crate) fn expect(&self, op: Op) -> Result<&Principal> {
        if self.op == op {
            Ok(&self.principal)
        } else {
            Err(ServiceError::Internal(format!("admitted to {:?}, not {op:?}", self.op)))
        }
    }
}

/// SHA-256 of a secret, as stored in the index.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Service {
    /// Admits `principal` to `op` (a reserve or list takes one token of its rate limit).
    pub fn authorize(&self, principal: &Principal, op: Op) -> Result<Admitted> {
        match op {
            Op::Reserve => {
                principal.require(EVENTS_WRITE)?;
                self.rate_limit(principal)?;
                principal.app_scope()?;
            }
            Op::List => {
                principal.require(EVENTS_READ)?;
                self.rate_limit(principal)?;
            }
            Op::Link => principal.require(EVENTS_WRITE)?,
            Op::OwnFiles => {
                principal.app_scope()?;
                self.rate_limit(principal)?;
            }
            Op::SetQuotas(pid) => {
                principal.require(PROJECTS_WRITE)?;
                let project = self.visible_project(principal, &pid)?;
                principal.require_role(project.team_id, Role::Admin)?;
            }
        }
        Ok(Admitted { principal: principal.clone(), op })
    }

    /// Resolves a bearer token to a caller.
    pub fn authenticate(&self, token: &str) -> Result<Principal> {
        if token.is_empty() {
            return Err(ServiceError::MissingAuth);
        }
        let now = Timestamp::now();
        if [CLIENT_KEY_PREFIX, AGENT_KEY_PREFIX, IMPORT_KEY_PREFIX].iter().any(|p| token.starts_with(p)) {
            let key = self.control.key(&*self.catalog, &secret_hash(token))?.ok_or(ServiceError::InvalidApiKey)?;
            if key.revoked_at.is_some() {
                return Err(ServiceError::InvalidApiKey);
            }
            if key.expires_at.is_some_and(|e| e <= now) {
                return Err(ServiceError::ApiKeyExpired);
            }
            return Ok(Principal::Key(key));
        }
        let user = self.jwt.verify(token, now.as_secs()).ok_or(ServiceError::InvalidJwt)?;
        let teams = self.catalog.memberships(&user)?;
        Ok(Principal::User { id: user, teams })
    }

    /// Checks an admin token.
    pub fn authenticate_admin(&self, token: &str) -> Result<()> {
        if token.is_empty() {
            return Err(ServiceError::MissingAuth);
        }
        match self.catalog.admin_token(&secret_hash(token))? {
            Some(_) => Ok(()),
            None => Err(ServiceError::InvalidAdminToken),
        }
    }

    /// A live (not soft-deleted) project visible to the caller, or `ProjectNotFound`.
    pub fn visible_project(&self, p: &Principal, id: &ProjectId) -> Result<Project> {
        match self.control.project(&*self.catalog, id)? {
            Some(proj) if proj.deleted_at.is_none() && p.teams().contains(&proj.team_id) => Ok((*proj).clone()),
            _ => Err(ServiceError::ProjectNotFound),
        }
    }

    /// Live projects of the caller's teams (a client key: its own app's project only).
    pub fn visible_projects(&self, p: &Principal) -> Result<Vec<Project>> {
        let teams = p.teams();
        let mut projects: Vec<Project> = self
            .catalog
            .projects()?
            .into_iter()
            .filter(|x| x.deleted_at.is_none() && teams.contains(&x.team_id))
            .collect();
        if let Principal::Key(k) = p {
            if let (KeyKind::Client, Some(app)) = (k.kind, k.app_id) {
                match self.control.app(&*self.catalog, &app)? {
                    Some(a) => projects.retain(|x| x.id == a.project_id),
                    None => projects.clear(),
                }
            }
        }
        Ok(projects)
    }
}
