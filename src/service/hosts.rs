//! The host application's entities, as the admin API registers them: users (who uploaded,
//! whose ticket it is), project aliases (another API's name for a project: a catalog space's
//! slug, an integer project number) and parents (the products, tickets, assets and projects
//! attachments hang under, so that "parent not found" is a real answer).
//!
//! Every write is idempotent (a PUT of the same value again changes nothing but its update
//! time) and checked before it reaches the catalog; the catalog refuses, whole, a change that
//! would take an alias or a parent from another project.

use crate::clock::Timestamp;
use crate::ids::{ProjectId, UserId};
use crate::model::ParentKind;
use crate::model::control::{AliasKind, ControlChange, Parent, User};

use super::{Result, Service, ServiceError};

/// Longest user id, parent id or alias, in bytes.
pub const MAX_ID_BYTES: usize = 255;

fn bad(msg: impl Into<String>) -> ServiceError {
    ServiceError::BadParameter(msg.into())
}

/// Whether `s` can be an id: 1–255 bytes, no control characters (so never a path separator
/// problem either: ids are keys, never file names).
fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_BYTES && !s.chars().any(char::is_control)
}

/// The parent kinds the admin API registers (the others are created by uploads themselves).
pub fn registrable(kind: ParentKind) -> bool {
    matches!(kind, ParentKind::Product | ParentKind::Ticket | ParentKind::Asset | ParentKind::Project)
}

impl Service {
    /// Creates or updates a user.
    pub fn put_user(&self, id: UserId, name: String, email: String) -> Result<User> {
        if !valid_id(&id.0) {
            return Err(bad("user id must be 1-255 bytes without control characters"));
        }
        if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(bad("name must be 1-200 printable characters"));
        }
        let (local, domain) = email.split_once('@').unwrap_or(("", ""));
        if local.is_empty()
            || domain.is_empty()
            || email.len() > 254
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("email must be an address like name@example.com"));
        }
        let now = Timestamp::now();
        let created_at = self.catalog.user(&id)?.map_or(now, |u| u.created_at);
        let user = User { id, name, email, created_at, updated_at: now };
        self.commit_control(vec![ControlChange::PutUser(user.clone())])?;
        Ok(user)
    }

    /// Names live project `project` by `value` (a space slug: 1–100 of `a-z 0-9 - _`; a
    /// project number: a decimal integer, stored in its canonical form).
    pub fn put_alias(&self, project: ProjectId, kind: AliasKind, value: &str) -> Result<String> {
        let value = match kind {
            AliasKind::SpaceSlug => {
                let ok = !value.is_empty()
                    && value.len() <= 100
                    && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
                if !ok {
                    return Err(bad("a space slug is 1-100 of a-z, 0-9, '-' and '_'"));
                }
                value.to_string()
            }
            AliasKind::ProjectNumber => {
                value.parse::<u64>().map_err(|_| bad("a project number is a non-negative integer"))?.to_string()
            }
        };
        self.live_project(project)?;
        self.commit_control(vec![ControlChange::PutAlias { kind, value: value.clone(), project }])?;
        Ok(value)
    }

    /// Registers (or updates) a parent of a registrable kind in live project `project`; a
    /// ticket names its owner, a user that exists.
    pub fn put_parent(&self, project: ProjectId, kind: ParentKind, id: &str, owner: Option<UserId>) -> Result<Parent> {
        if !registrable(kind) {
            return Err(bad("parent kind must be product, ticket, asset or project"));
        }
        if !valid_id(id) {
            return Err(bad("parent id must be 1-255 bytes without control characters"));
        }
        if matches!(kind, ParentKind::Asset | ParentKind::Project) && !crate::model::is_token_id(id) {
            return Err(bad("asset and project ids must be 1-64 characters of A-Z, a-z, 0-9, - and _"));
        }
        match (&owner, kind) {
            (None, ParentKind::Ticket) => return Err(bad("a ticket needs an owner")),
            (Some(_), k) if k != ParentKind::Ticket => return Err(bad("only a ticket has an owner")),
            (Some(u), _) => {
                self.catalog.user(u)?.ok_or(ServiceError::EntityNotFound("User"))?;
            }
            (None, _) => {}
        }
        self.live_project(project)?;
        let now = Timestamp::now();
        let created_at =
            self.catalog.parent(kind, id)?.filter(|p| p.project_id == project).map_or(now, |p| p.created_at);
        let parent = Parent { project_id: project, kind, id: id.to_string(), owner, created_at, updated_at: now };
        self.commit_control(vec![ControlChange::PutParent(parent.clone())])?;
        Ok(parent)
    }

    /// Unregisters a parent of `project` (404 if it is not registered there). Attachments under
    /// it stay; only new uploads to it are refused.
    pub fn delete_parent(&self, project: ProjectId, kind: ParentKind, id: &str) -> Result<Parent> {
        let parent = (self.catalog.parent(kind, id)?)
            .filter(|p| p.project_id == project)
            .ok_or(ServiceError::EntityNotFound("Parent"))?;
        self.commit_control(vec![ControlChange::DeleteParent { kind, id: id.to_string() }])?;
        Ok(parent)
    }

    /// The project another API's name `value` (of `kind`) stands for, if one was set.
    pub fn project_by_alias(&self, kind: AliasKind, value: &str) -> Result<Option<ProjectId>> {
        Ok(self.catalog.alias(kind, value)?)
    }

    /// The parents registered in a project.
    pub fn parents(&self, project: ProjectId) -> Result<Vec<Parent>> {
        self.catalog.project(&project)?.ok_or(ServiceError::EntityNotFound("Project"))?;
        Ok(self.catalog.parents(&project)?)
    }

    fn live_project(&self, project: ProjectId) -> Result<()> {
        (self.catalog.project(&project)?)
            .filter(|p| p.deleted_at.is_none())
            .map(|_| ())
            .ok_or(ServiceError::EntityNotFound("Project"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_and_printable() {
        assert!(valid_id("p-1") && valid_id(&"x".repeat(255)) && valid_id("a/b"));
        assert!(!valid_id("") && !valid_id(&"x".repeat(256)) && !valid_id("a\nb") && !valid_id("a\0b"));
        assert!(registrable(ParentKind::Ticket) && !registrable(ParentKind::SessionPoint));
    }
}
