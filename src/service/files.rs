//! Files under a parent, for the APIs whose callers are people (`people.rs`): list a parent's
//! files, fetch one, open its bytes, delete it under the API's rule.
//!
//! A parent is one the admin API registered (a product, a ticket, an asset, a host project) or
//! a slot an upload created (a session point); [`Service::registered_parent`] resolves the
//! former, so "parent not found" is a real answer. Files are listed newest first from the
//! catalog's parent listing; only uploaded, live files are listed or served. A file fetched by
//! id must hang under a parent of the kind the route expects (a ticket's file on a product
//! route is not found) and belong to a project the caller reaches.

use crate::ids::{AttachmentId, ProjectId, UserId};
use crate::model::control::Parent;
use crate::model::{After, Attachment, ParentId, ParentKind, ParentRef};

use super::download::Download;
use super::people::{Person, Reach};
use super::{Result, Service, ServiceError};

/// Who may delete a file, besides nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRule {
    /// The uploader, or an admin or owner of the project's team.
    UploaderOrAdmin,
    /// The uploader, or the owner of the parent (a ticket's owner).
    UploaderOrParentOwner,
}

/// One page of a parent's files.
#[derive(Debug, Clone)]
pub struct FilePage {
    /// Newest first.
    pub files: Vec<Attachment>,
    /// Where the next page starts, if there is one.
    pub next: Option<(crate::clock::Timestamp, AttachmentId)>,
}

/// A parent as an attachment's reference to it (ids are the host's opaque strings).
pub fn parent_ref(kind: ParentKind, id: &str) -> ParentRef {
    ParentRef { kind, id: ParentId::Text(id.to_string()) }
}

impl Service {
    /// A parent registered through the admin API, or `EntityNotFound(what)`.
    pub fn registered_parent(&self, kind: ParentKind, id: &str, what: &'static str) -> Result<Parent> {
        self.catalog.parent(kind, id)?.ok_or(ServiceError::EntityNotFound(what))
    }

    /// Up to `limit` live, uploaded files of `project` under `parent`, newest first, from `after`.
    pub fn list_files(&self, project: &ProjectId, parent: &ParentRef, after: After, limit: usize) -> Result<FilePage> {
        let mut files = Vec::new();
        let mut last = None;
        for row in self.catalog.list_parent(parent, after) {
            let (row, owner) = row?;
            if owner != *project {
                continue;
            }
            if files.len() == limit {
                return Ok(FilePage { files, next: last });
            }
            last = Some((row.created_at, row.id));
            if let Some(rec) = self.catalog.record(row.id)?.filter(|r| r.is_uploaded() && r.deleted_at.is_none()) {
                files.push(rec);
            }
        }
        Ok(FilePage { files, next: None })
    }

    /// A live, uploaded file under a parent of `kind`, in a project `person` reaches; else
    /// `AttachmentNotFound`.
    pub fn file(&self, person: &Person, id: AttachmentId, kind: ParentKind) -> Result<(Attachment, Reach)> {
        let rec = self
            .catalog
            .record(id)?
            .filter(|r| r.is_uploaded() && r.deleted_at.is_none() && r.parent(kind).is_some())
            .ok_or(ServiceError::AttachmentNotFound)?;
        let reach = self.reach(person, &rec.project_id, ServiceError::AttachmentNotFound)?;
        Ok((rec, reach))
    }

    /// Deletes (soft) a file under a parent of `kind` if `rule` lets `person` do it: 404 out
    /// of reach, 403 within reach but not allowed.
    pub async fn delete_file(
        &self,
        person: &Person,
        id: AttachmentId,
        kind: ParentKind,
        rule: DeleteRule,
    ) -> Result<()> {
        let (rec, reach) = self.file(person, id, kind)?;
        let uploader = rec.uploader.as_ref() == Some(&person.id);
        let allowed = uploader
            || match rule {
                DeleteRule::UploaderOrAdmin => reach.is_admin(),
                DeleteRule::UploaderOrParentOwner => self.parent_owner(&rec, kind)?.as_ref() == Some(&person.id),
            };
        if !allowed {
            return Err(ServiceError::Forbidden(match rule {
                DeleteRule::UploaderOrAdmin => "Only the uploader or a team admin can delete this attachment",
                DeleteRule::UploaderOrParentOwner => "Only the uploader or the ticket owner can delete this attachment",
            }));
        }
        let deleted = self.blocking(move |svc| svc.soft_delete_blocking(id)).await?;
        if deleted { Ok(()) } else { Err(ServiceError::AttachmentNotFound) }
    }

    /// Soft-deletes the live file in a slot of `project`; whether there was one.
    pub async fn delete_slot(&self, project: ProjectId, slot: ParentRef) -> Result<bool> {
        let _guard = self.slot_locks.lock(&slot).await;
        let Some(rec) = self.slot_file(&project, &slot)? else { return Ok(false) };
        let id = rec.id;
        self.blocking(move |svc| svc.soft_delete_blocking(id)).await
    }

    /// Opens a file's bytes for serving (`head`: the record only).
    pub async fn open_file(&self, rec: Attachment, head: bool) -> Result<Download> {
        self.open_record(rec, head).await
    }

    fn parent_owner(&self, rec: &Attachment, kind: ParentKind) -> Result<Option<UserId>> {
        let Some(ParentRef { id: ParentId::Text(pid), .. }) = rec.parent(kind) else { return Ok(None) };
        Ok(self.catalog.parent(kind, pid)?.and_then(|p| p.owner))
    }
}
