//! `GET /v1/projects/:projectId/attachment-usage` and the reference's project quota settings
//! (`PATCH /v1/projects/:id`).

use serde::Serialize;
use serde_json::Value;

use crate::ids::{EndUserId, ProjectId};
use crate::model::control::{ControlChange, Project, Role};

use super::auth::{EVENTS_READ, PROJECTS_WRITE};
use super::views::Usage;
use super::{Principal, Result, Service, ServiceError};

/// Smallest quota the public PATCH accepts (1 MiB).
pub const MIN_QUOTA: u64 = 1 << 20;
/// Largest quota the public PATCH accepts (1 TiB).
pub const MAX_QUOTA: u64 = 1 << 40;

/// A project as the PATCH returns it.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectView {
    /// The stored project.
    #[serde(flatten)]
    pub project: Project,
    /// Override or default.
    pub effective_attachment_project_quota_bytes: u64,
    /// Override or default.
    pub effective_attachment_user_quota_bytes: u64,
}

/// Parses a path id, naming the parameter in the error.
pub fn parse_project_id(raw: &str) -> Result<ProjectId> {
    raw.parse().map_err(|_| ServiceError::BadParameter("projectId must be a UUID".into()))
}

impl Service {
    /// Usage of a visible project, optionally with one user's share.
    pub fn usage(&self, principal: &Principal, project: &str, user: Option<&str>) -> Result<Usage> {
        principal.require(EVENTS_READ)?;
        let pid = parse_project_id(project)?;
        let project = self.visible_project(principal, &pid)?;
        let (quota, user_quota) = self.effective_quotas(&project);
        let total = self.catalog.usage(&pid, None)?;
        let user = user.filter(|u| !u.is_empty());
        let per_user = match user {
            Some(u) => Some(self.catalog.usage(&pid, Some(&EndUserId(u.to_string())))?),
            None => None,
        };
        Ok(Usage {
            project_id: pid.to_string(),
            used_bytes: total.bytes_u64(),
            quota_bytes: quota,
            user_quota_bytes: user_quota,
            file_count: total.count_u64(),
            user_id: user.map(str::to_string),
            user_used_bytes: per_user.map(|c| c.bytes_u64()),
            user_file_count: per_user.map(|c| c.count_u64()),
        })
    }

    /// A project with its effective quotas.
    pub fn project_view(&self, project: Project) -> ProjectView {
        let (p, u) = self.effective_quotas(&project);
        ProjectView { project, effective_attachment_project_quota_bytes: p, effective_attachment_user_quota_bytes: u }
    }

    /// The reference's `PATCH /v1/projects/:id` quota fields: integer in [1 MiB, 1 TiB] or null.
    pub fn patch_project(&self, principal: &Principal, project: &str, body: &Value) -> Result<ProjectView> {
        principal.require(PROJECTS_WRITE)?;
        let pid = parse_project_id(project)?;
        let current = self.visible_project(principal, &pid)?;
        principal.require_role(current.team_id, Role::Admin)?;
        let obj = body.as_object().ok_or_else(|| ServiceError::BadJson("Request body must be a JSON object".into()))?;
        let field = |name: &str| -> Result<Option<Option<u64>>> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::Null) => Ok(Some(None)),
                Some(Value::Number(n)) => {
                    let v = n
                        .as_u64()
                        .ok_or_else(|| ServiceError::BadParameter(format!("{name} must be an integer or null")))?;
                    if !(MIN_QUOTA..=MAX_QUOTA).contains(&v) {
                        return Err(ServiceError::BadParameter(format!(
                            "{name} must be between {MIN_QUOTA} and {MAX_QUOTA}"
                        )));
                    }
                    Ok(Some(Some(v)))
                }
                Some(_) => Err(ServiceError::BadParameter(format!("{name} must be an integer or null"))),
            }
        };
        let user = field("attachment_user_quota_bytes")?;
        let proj = field("attachment_project_quota_bytes")?;
        self.set_quotas(pid, proj, user).map(|p| self.project_view(p))
    }

    /// Applies quota overrides (`Some(None)` resets to the default, `None` leaves as is).
    pub fn set_quotas(
        &self,
        pid: ProjectId,
        project: Option<Option<u64>>,
        user: Option<Option<u64>>,
    ) -> Result<Project> {
        // One catalog step reads and writes the project, ordered with its reserves: none
        // checks against half of the change, and two changes never lose one another.
        self.catalog.project(&pid)?.ok_or(ServiceError::ProjectNotFound)?;
        self.commit_control(vec![ControlChange::SetQuotas { project: pid, project_bytes: project, user_bytes: user }])?;
        let p = self.catalog.project(&pid)?.ok_or(ServiceError::ProjectNotFound)?;
        tracing::info!(project = %pid, project_quota = ?p.attachment_project_quota_bytes, user_quota = ?p.attachment_user_quota_bytes, "project quotas changed");
        Ok(p)
    }
}
