//! A project's usage against its quotas, and its quota settings: the owner-facing change (by a
//! caller admitted to [`Op::SetQuotas`]: `projects:write` and, for a user, the team's admin
//! role; the front end bounds the values) and the admin API's. A quota change is one catalog
//! step ordered with the project's reserves, so no reserve checks against half of a change.

use crate::ids::{EndUserId, ProjectId};
use crate::model::Counter;
use crate::model::control::{ControlChange, Project};

use super::auth::{Admitted, EVENTS_READ, Op};
use super::{Principal, Result, Service, ServiceError};

/// A project with its effective quotas (its overrides, or the configured defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectQuotas {
    /// The stored project.
    pub project: Project,
    /// The project quota in force, bytes.
    pub project_bytes: u64,
    /// The per-owner quota in force, bytes.
    pub user_bytes: u64,
}

/// A change to a project's quota overrides. For each: `None` leaves it as is, `Some(None)`
/// resets it to the default, `Some(Some(n))` sets it to `n` bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaChange {
    /// The project quota.
    pub project: Option<Option<u64>>,
    /// The per-user quota.
    pub user: Option<Option<u64>>,
}

/// A project's usage, and optionally one end user's share.
#[derive(Debug, Clone)]
pub struct UsageReport {
    /// The project.
    pub project: ProjectId,
    /// Effective project quota.
    pub quota_bytes: u64,
    /// Effective per-user quota.
    pub user_quota_bytes: u64,
    /// Bytes and attachments counted against the project quota.
    pub total: Counter,
    /// The user asked about and their share.
    pub user: Option<(EndUserId, Counter)>,
}

impl Service {
    /// Usage of a visible project, optionally with one user's share.
    pub fn usage(&self, principal: &Principal, pid: ProjectId, user: Option<EndUserId>) -> Result<UsageReport> {
        principal.require(EVENTS_READ)?;
        let project = self.visible_project(principal, &pid)?;
        let (quota_bytes, user_quota_bytes) = self.effective_quotas(&project);
        let total = self.catalog.usage(&pid, None)?;
        let user = match user {
            Some(u) => {
                let share = self.catalog.usage(&pid, Some(&u))?;
                Some((u, share))
            }
            None => None,
        };
        Ok(UsageReport { project: pid, quota_bytes, user_quota_bytes, total, user })
    }

    /// A project with its effective quotas.
    pub fn project_quotas(&self, project: Project) -> ProjectQuotas {
        let (project_bytes, user_bytes) = self.effective_quotas(&project);
        ProjectQuotas { project, project_bytes, user_bytes }
    }

    /// Changes the quota overrides of project `pid` for a caller admitted to
    /// [`Op::SetQuotas`] of it.
    pub fn patch_project(&self, who: Admitted, pid: ProjectId, change: QuotaChange) -> Result<ProjectQuotas> {
        who.expect(Op::SetQuotas(pid))?;
        self.set_quotas(pid, change.project, change.user).map(|p| self.project_quotas(p))
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
        tracing::info!(project = %pid, project_quota = ?p.project_quota_bytes, user_quota = ?p.user_quota_bytes, "project quotas changed");
        Ok(p)
    }
}
