//! The control plane of the local backend: [`ControlPlane`] for [`LocalCatalog`], over the
//! `control` and `event_links` column families (`crate::index::control`, `index::links`).
//!
//! One [`ControlPlane::apply_control`] call is one synced RocksDB batch. A call that writes a
//! project holds that project's quota stripe across the commit and the drop of the reserve
//! path's project cache, so a reserve sees the old project (quotas, deletion) or the new one,
//! never a cached copy of the old one after the new one was committed.

use std::collections::HashMap;

use crate::engine::{CatalogError, CatalogResult, ControlPlane};
use crate::ids::{AppId, ClientEventId, KeyId, ProjectId, TeamId, UserId};
use crate::model::ParentKind;
use crate::model::control::{
    AdminToken, AliasKind, ApiKey, App, ControlChange, EventLink, Parent, Project, Role, Team, User,
};

use super::LocalCatalog;

impl ControlPlane for LocalCatalog {
    fn team(&self, id: &TeamId) -> CatalogResult<Option<Team>> {
        Ok(self.index().team(id)?)
    }

    fn teams(&self) -> CatalogResult<Vec<Team>> {
        Ok(self.index().teams()?)
    }

    fn project(&self, id: &ProjectId) -> CatalogResult<Option<Project>> {
        Ok(self.index().project(id)?)
    }

    fn projects(&self) -> CatalogResult<Vec<Project>> {
        Ok(self.index().projects()?)
    }

    fn app(&self, id: &AppId) -> CatalogResult<Option<App>> {
        Ok(self.index().app(id)?)
    }

    fn apps(&self) -> CatalogResult<Vec<App>> {
        Ok(self.index().apps()?)
    }

    fn api_key(&self, id: &KeyId) -> CatalogResult<Option<ApiKey>> {
        Ok(self.index().api_key(id)?)
    }

    fn api_keys(&self) -> CatalogResult<Vec<ApiKey>> {
        Ok(self.index().api_keys()?)
    }

    fn api_key_by_hash(&self, sha256: &[u8; 32]) -> CatalogResult<Option<ApiKey>> {
        Ok(self.index().api_key_by_hash(sha256)?)
    }

    fn admin_token(&self, sha256: &[u8; 32]) -> CatalogResult<Option<AdminToken>> {
        Ok(self.index().admin_token(sha256)?)
    }

    fn admin_tokens(&self) -> CatalogResult<Vec<([u8; 32], AdminToken)>> {
        Ok(self.index().admin_tokens()?)
    }

    fn members(&self, team: &TeamId) -> CatalogResult<Vec<(UserId, Role)>> {
        Ok(self.index().members(team)?)
    }

    fn memberships(&self, user: &UserId) -> CatalogResult<Vec<(TeamId, Role)>> {
        Ok(self.index().memberships(user)?)
    }

    fn marker(&self, name: &str) -> CatalogResult<Option<serde_json::Value>> {
        Ok(self.index().marker(name)?)
    }

    fn user(&self, id: &UserId) -> CatalogResult<Option<User>> {
        Ok(self.index().user(id)?)
    }

    fn upload_policy(&self, project: &ProjectId) -> CatalogResult<Option<crate::model::UploadPolicy>> {
        Ok(self.index().upload_policy(project)?)
    }

    fn webhook(&self, project: &ProjectId) -> CatalogResult<Option<crate::model::Webhook>> {
        Ok(self.index().webhook(project)?)
    }

    fn alias(&self, kind: AliasKind, value: &str) -> CatalogResult<Option<ProjectId>> {
        Ok(self.index().alias(kind, value)?)
    }

    fn parent(&self, kind: ParentKind, id: &str) -> CatalogResult<Option<Parent>> {
        Ok(self.index().parent(kind, id)?)
    }

    fn parents(&self, project: &ProjectId) -> CatalogResult<Vec<Parent>> {
        Ok(self.index().parents(project)?)
    }

    fn event_link(&self, app: &AppId, client_event_id: &ClientEventId) -> CatalogResult<Option<EventLink>> {
        Ok(self.index().event_link(app, client_event_id)?)
    }

    fn export_control(&self) -> CatalogResult<Vec<ControlChange>> {
        Ok(self.index().export_control()?)
    }

    fn apply_control(&self, changes: Vec<ControlChange>) -> CatalogResult<()> {
        let projects: Vec<ProjectId> = changes.iter().filter_map(project_of).collect();
        // Project changes are read (where they depend on the stored project), written and
        // committed under the projects' quota stripes, and the reserve path's project cache is
        // dropped before the stripes are released.
        // One call at a time: the ownership checks of aliases and parents read what they
        // then write. Then the projects' quota stripes.
        let _control = self.control_lock.lock().unwrap_or_else(|e| e.into_inner());
        let _quota = self.quota_locks.lock_many(projects.iter().map(|p| p.as_bytes()));
        let mut b = self.index().batch();
        // Projects as this call has left them so far: a change reads an earlier one's result.
        let mut written: HashMap<ProjectId, Project> = HashMap::new();
        let mut aliases: HashMap<(AliasKind, String), ProjectId> = HashMap::new();
        let mut parents: HashMap<(ParentKind, String), Option<Parent>> = HashMap::new();
        for change in changes {
            match change {
                ControlChange::PutTeam(t) => b.put_team(&t),
                ControlChange::PutProject(p) => {
                    b.put_project(&p);
                    written.insert(p.id, p);
                }
                ControlChange::SetQuotas { project, project_bytes, user_bytes } => {
                    if let Some(mut p) = self.project_as_written(&written, &project)? {
                        if let Some(v) = project_bytes {
                            p.project_quota_bytes = v;
                        }
                        if let Some(v) = user_bytes {
                            p.user_quota_bytes = v;
                        }
                        b.put_project(&p);
                        written.insert(p.id, p);
                    }
                }
                ControlChange::DeleteProject { project, at } => {
                    let live = self.project_as_written(&written, &project)?.filter(|p| p.deleted_at.is_none());
                    if let Some(mut p) = live {
                        p.deleted_at = Some(at);
                        b.put_project(&p);
                        written.insert(p.id, p);
                    }
                }
                ControlChange::PutApp(a) => b.put_app(&a),
                ControlChange::PutApiKey { key, secret_sha256 } => b.put_api_key(&key, &secret_sha256),
                ControlChange::UpdateApiKey(key) => b.update_api_key(&key),
                ControlChange::PutAdminToken { sha256, token } => b.put_admin_token(&sha256, &token),
                ControlChange::DeleteAdminToken(sha256) => b.delete_admin_token(&sha256),
                ControlChange::PutMember { team, user, role } => b.put_member(&team, &user, role),
                ControlChange::DeleteMember { team, user } => b.delete_member(&team, &user),
                ControlChange::PutMarker { name, value } => b.put_marker(&name, &value),
                ControlChange::DeleteMarker(name) => b.delete_marker(&name),
                ControlChange::PutUser(u) => b.put_user(&u),
                ControlChange::SetWebhook { project, webhook } => b.set_webhook(&project, webhook.as_ref()),
                ControlChange::SetUploadPolicy { project, policy } => b.set_upload_policy(&project, policy.as_ref()),
                ControlChange::PutAlias { kind, value, project } => {
                    let owner = match aliases.get(&(kind, value.clone())) {
                        Some(p) => Some(*p),
                        None => self.index().alias(kind, &value)?,
                    };
                    if owner.is_some_and(|o| o != project) {
                        let what = alias_label(kind);
                        return Err(CatalogError::Conflict(format!("{what} {value:?} already names another project")));
                    }
                    b.put_alias(kind, &value, &project);
                    aliases.insert((kind, value), project);
                }
                ControlChange::PutParent(p) => {
                    let key = (p.kind, p.id.clone());
                    let before = match parents.get(&key) {
                        Some(p) => p.clone(),
                        None => self.index().parent(p.kind, &p.id)?,
                    };
                    if let Some(old) = before.filter(|old| old.project_id != p.project_id) {
                        return Err(CatalogError::Conflict(format!(
                            "{:?} {:?} belongs to another project ({})",
                            old.kind, old.id, old.project_id
                        )));
                    }
                    b.put_parent(&p);
                    parents.insert(key, Some(p));
                }
                ControlChange::DeleteParent { kind, id } => {
                    let key = (kind, id.clone());
                    let before = match parents.get(&key) {
                        Some(p) => p.clone(),
                        None => self.index().parent(kind, &id)?,
                    };
                    if let Some(old) = before {
                        b.delete_parent(&old);
                    }
                    parents.insert(key, None);
                }
                ControlChange::PutEventLink { app, client_event_id, link } => {
                    b.put_event_link(&app, &client_event_id, &link)
                }
            }
        }
        b.commit(true)?;
        self.forget_projects();
        Ok(())
    }
}

impl LocalCatalog {
    /// `id` as an earlier change of the same call wrote it, else as stored.
    fn project_as_written(
        &self,
        written: &HashMap<ProjectId, Project>,
        id: &ProjectId,
    ) -> CatalogResult<Option<Project>> {
        match written.get(id) {
            Some(p) => Ok(Some(p.clone())),
            None => Ok(self.index().project(id)?),
        }
    }
}

/// How an alias kind is named in messages.
fn alias_label(kind: AliasKind) -> &'static str {
    match kind {
        AliasKind::SpaceSlug => "space slug",
        AliasKind::ProjectNumber => "project number",
    }
}

/// The project a change writes, if any.
fn project_of(change: &ControlChange) -> Option<ProjectId> {
    match change {
        ControlChange::PutProject(p) => Some(p.id),
        ControlChange::SetQuotas { project, .. } | ControlChange::DeleteProject { project, .. } => Some(*project),
        _ => None,
    }
}
