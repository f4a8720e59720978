//! [`ControlPlane`]: the catalog's other half — teams, projects, apps, API keys, members,
//! admin tokens, markers, users, project aliases, registered parents and event links
//! (`crate::model::control`).
//!
//! Reads see every change whose [`ControlPlane::apply_control`] has returned. A call of
//! `apply_control` is one atomic, synced unit: all of its changes land or none does, and a
//! change that alters a project's quotas is ordered with that project's reservations (no
//! reserve checks against a half-changed quota). Low volume and human-inspectable; the hot
//! paths (authentication, reserve) read it through the service's cache, which is dropped after
//! every change the service applies.

use crate::ids::{AppId, ClientEventId, KeyId, ProjectId, TeamId, UserId};
use crate::model::ParentKind;
use crate::model::control::{
    AdminToken, AliasKind, ApiKey, App, ControlChange, EventLink, Parent, Project, Role, Team, User,
};

use super::CatalogResult;

/// The control plane (see the module docs).
pub trait ControlPlane: Send + Sync {
    /// A team by id.
    fn team(&self, id: &TeamId) -> CatalogResult<Option<Team>>;
    /// Every team.
    fn teams(&self) -> CatalogResult<Vec<Team>>;
    /// A project by id, soft-deleted ones included.
    fn project(&self, id: &ProjectId) -> CatalogResult<Option<Project>>;
    /// Every project.
    fn projects(&self) -> CatalogResult<Vec<Project>>;
    /// An app by id.
    fn app(&self, id: &AppId) -> CatalogResult<Option<App>>;
    /// Every app.
    fn apps(&self) -> CatalogResult<Vec<App>>;
    /// A key by id.
    fn api_key(&self, id: &KeyId) -> CatalogResult<Option<ApiKey>>;
    /// Every key.
    fn api_keys(&self) -> CatalogResult<Vec<ApiKey>>;
    /// The key whose secret hashes to `sha256`.
    fn api_key_by_hash(&self, sha256: &[u8; 32]) -> CatalogResult<Option<ApiKey>>;
    /// The admin token whose secret hashes to `sha256`.
    fn admin_token(&self, sha256: &[u8; 32]) -> CatalogResult<Option<AdminToken>>;
    /// Every admin token, with the SHA-256 of its secret.
    fn admin_tokens(&self) -> CatalogResult<Vec<([u8; 32], AdminToken)>>;
    /// The members of a team, with their roles.
    fn members(&self, team: &TeamId) -> CatalogResult<Vec<(UserId, Role)>>;
    /// The teams a user belongs to, with their roles.
    fn memberships(&self, user: &UserId) -> CatalogResult<Vec<(TeamId, Role)>>;
    /// A named marker, if set.
    fn marker(&self, name: &str) -> CatalogResult<Option<serde_json::Value>>;
    /// A user by id.
    fn user(&self, id: &UserId) -> CatalogResult<Option<User>>;
    /// The project `value` of `kind` names.
    fn alias(&self, kind: AliasKind, value: &str) -> CatalogResult<Option<ProjectId>>;
    /// A registered parent.
    fn parent(&self, kind: ParentKind, id: &str) -> CatalogResult<Option<Parent>>;
    /// Every parent registered in a project, by kind then id.
    fn parents(&self, project: &ProjectId) -> CatalogResult<Vec<Parent>>;
    /// A project's upload policy, if one is set.
    fn upload_policy(&self, project: &ProjectId) -> CatalogResult<Option<crate::model::UploadPolicy>>;
    /// A project's webhook, if one is set.
    fn webhook(&self, project: &ProjectId) -> CatalogResult<Option<crate::model::Webhook>>;
    /// The link recorded for a client event id of an app.
    fn event_link(&self, app: &AppId, client_event_id: &ClientEventId) -> CatalogResult<Option<EventLink>>;
    /// Applies `changes` in order, atomically and synced.
    fn apply_control(&self, changes: Vec<ControlChange>) -> CatalogResult<()>;
    /// The whole control plane as the changes that recreate it (applied to another backend by
    /// a migration).
    fn export_control(&self) -> CatalogResult<Vec<ControlChange>>;
    /// A number every [`ControlPlane::apply_control`] changes, read by the caches of processes
    /// that share the catalog (replicas), so a change made through one is seen by all. A
    /// backend that only one process ever writes may keep the default (that process drops its
    /// own cache after each change).
    fn control_version(&self) -> CatalogResult<u64> {
        Ok(0)
    }
}
