//! Removing attachments: the soft delete of `DELETE /v1/attachments/:id`, the discard of a
//! reservation whose upload failed verification, and the hard delete cleanup performs.
//!
//! Each is a compare-and-set transition through the catalog, retried from a fresh read when
//! another change (an upload commit, another delete) won the race; rows and counters follow
//! from the transition inside the catalog. Soft delete releases quota at once (as the reference)
//! and keeps the bytes for the grace period; hard delete commits the index change *before*
//! removing bytes, so a crash in between leaves an orphan for the sweep, never a record
//! pointing at nothing.

use crate::clock::Timestamp;
use crate::engine::Durability;
use crate::ids::AttachmentId;
use crate::model::control::Role;
use crate::model::{Attachment, Retention};

use super::auth::EVENTS_WRITE;
use super::{Principal, Result, Service, ServiceError};

impl Service {
    /// Soft-deletes an attachment the caller can see.
    pub async fn soft_delete(&self, principal: &Principal, id: AttachmentId) -> Result<()> {
        principal.require(EVENTS_WRITE)?;
        let rec =
            self.catalog.record(id)?.filter(|r| r.deleted_at.is_none()).ok_or(ServiceError::AttachmentNotFound)?;
        let project = self.control.project(&*self.catalog, &rec.project_id)?.ok_or(ServiceError::AttachmentNotFound)?;
        if !principal.can_see_app(project.team_id, rec.app_id) {
            return Err(ServiceError::AttachmentNotFound);
        }
        principal.require_role(project.team_id, Role::Member)?;
        let deleted = self.blocking(move |svc| svc.soft_delete_blocking(id)).await?;
        if deleted { Ok(()) } else { Err(ServiceError::AttachmentNotFound) }
    }

    /// Soft-deletes `id` if it is not deleted yet (no scope check: callers did it). Returns
    /// whether it was deleted now.
    pub(crate) fn soft_delete_blocking(&self, id: AttachmentId) -> Result<bool> {
        loop {
            let Some(old) = self.catalog.record(id)?.filter(|r| r.deleted_at.is_none()) else { return Ok(false) };
            let mut rec = old.clone();
            rec.deleted_at = Some(Timestamp::now());
            // Synced: a delete that answered 200 stays deleted through power loss.
            if self.catalog.update(&old, Some(&rec), Durability::Synced)? {
                return Ok(true);
            }
        }
    }

    /// Drops a pending reservation entirely (failed verification or lapsed TTL): record and
    /// rows gone, quota released. A reservation that is no longer pending is left alone.
    pub async fn discard_reservation(&self, id: AttachmentId) -> Result<bool> {
        self.blocking(move |svc| svc.discard_reservation_blocking(id)).await
    }

    pub(crate) fn discard_reservation_blocking(&self, id: AttachmentId) -> Result<bool> {
        self.discard_if(id, |_| true)
    }

    /// Releases a reservation that lapsed before `now`, unless a PUT holds its claim (a PUT
    /// checks the deadline only after claiming, so a claimed reservation was claimed in time).
    pub(crate) fn release_lapsed_blocking(&self, id: AttachmentId, now: crate::clock::Timestamp) -> Result<bool> {
        self.discard_if(id, |rec| rec.expires_at < now && !self.uploads.contains(&id))
    }

    /// Removes an attachment whose removal deadline (`Retention::Until`) passed before `now`:
    /// an uploaded one is soft-deleted (quota released now, bytes after the grace); a
    /// reservation never uploaded is discarded, unless a PUT holds its claim. Returns whether
    /// it was removed now.
    pub(crate) fn remove_ephemeral_blocking(&self, id: AttachmentId, now: Timestamp) -> Result<bool> {
        loop {
            let due = |r: &Attachment| matches!(r.retention, Retention::Until(t) if t < now);
            let Some(old) = self.catalog.record(id)?.filter(|r| r.deleted_at.is_none() && due(r)) else {
                return Ok(false);
            };
            if old.is_pending() {
                return self.discard_if(id, |r| due(r) && !self.uploads.contains(&id));
            }
            let rec = Attachment { deleted_at: Some(now), ..old.clone() };
            if self.catalog.update(&old, Some(&rec), Durability::Synced)? {
                return Ok(true);
            }
        }
    }

    fn discard_if(&self, id: AttachmentId, cond: impl Fn(&Attachment) -> bool) -> Result<bool> {
        loop {
            let Some(rec) = self.catalog.record(id)?.filter(|r| r.is_pending() && cond(r)) else {
                return Ok(false);
            };
            if self.catalog.update(&rec, None, Durability::Logged)? {
                return Ok(true);
            }
        }
    }

    /// Reclaims the attachment of the `deleted` entry `(deleted_at, id)`: record first, then
    /// bytes. Returns the bytes freed from standalone files (segment bytes are freed by
    /// compaction), or `None` if the entry was stale (its record is gone or not deleted at that
    /// time): the entry is dropped then, so a sweep never meets it again.
    pub(crate) fn hard_delete_blocking(&self, deleted_at: Timestamp, id: AttachmentId) -> Result<Option<u64>> {
        let rec = loop {
            let Some(rec) = self.catalog.record(id)?.filter(|r| r.deleted_at == Some(deleted_at)) else {
                self.catalog.forget_deleted(deleted_at, id)?;
                tracing::warn!(attachment = %id, "removed a reclaim row its record does not account for");
                return Ok(None);
            };
            // Synced before the bytes go: a crash between leaves an orphan, never a record
            // pointing at nothing.
            if self.catalog.update(&rec, None, Durability::Synced)? {
                break rec;
            }
        };
        Ok(Some(self.blobs.remove(&rec)?))
    }

    /// Runs blocking index/store work off the async threads.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&Service) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let me = self.me();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| ServiceError::Internal(format!("blocking task: {e}")))?
    }
}
