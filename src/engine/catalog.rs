//! [`Catalog`]: where attachment records live, with their listings, usage counters, quotas and
//! pending-reservation caps.
//!
//! Every change to a record is a *transition* from the state the caller read to a new one:
//! [`Catalog::update`] applies it only if the record is still exactly as read (compare and
//! set), and derives every listing row and counter change from the two states itself. A caller
//! that loses a race re-reads and decides again. [`Catalog::reserve`] is the one creation: it
//! checks the project's and the owner's quota and the pending caps and records the reservation
//! atomically, so concurrent reserves can never overshoot a quota.

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, EndUserId, ProjectId};
use crate::model::{After, Attachment, Counter, Notice, ParentRef, Pending, TimelineRow};

use super::ControlPlane;

/// What a catalog refuses, or fails with.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The project is gone (deleted, or never existed).
    #[error("project gone")]
    ProjectGone,
    /// The project's quota would be exceeded.
    #[error("project quota exhausted")]
    ProjectQuota {
        /// The effective quota.
        quota: u64,
        /// Bytes in use.
        used: u64,
    },
    /// The owner's quota would be exceeded.
    #[error("user quota exhausted")]
    UserQuota {
        /// The effective quota.
        quota: u64,
        /// Bytes in use.
        used: u64,
    },
    /// The project holds as many pending reservations (`what`: count or bytes) as allowed.
    #[error("too many pending reservations ({what})")]
    TooManyPending {
        /// `"count"` or `"bytes"`.
        what: &'static str,
    },
    /// One file larger than the project may ever hold pending.
    #[error("larger than the pending cap")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// A control change names something that belongs to another project.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value is damaged or from a newer version.
    #[error("corrupt catalog: {0}")]
    Corrupt(String),
    /// The backend failed (I/O, a database error).
    #[error("catalog: {0}")]
    Backend(String),
    /// The backend cannot be reached now (its database is restarting or unreachable): the
    /// request may be retried as it is.
    #[error("catalog unavailable: {0}")]
    Unavailable(String),
}

/// Result of a catalog call.
pub type CatalogResult<T> = Result<T, CatalogError>;

/// How durable a change must be when the call returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Survives power loss (everything a client is told is done).
    Synced,
    /// Survives a process crash; made power-safe by the next synced change.
    Logged,
}

/// The limits a reservation is checked against; a project's own quota overrides the defaults.
#[derive(Debug, Clone, Copy)]
pub struct ReserveLimits {
    /// Project quota when the project sets none.
    pub default_project_quota: u64,
    /// Per-owner quota when the project sets none.
    pub default_user_quota: u64,
    /// Most pending reservations per project.
    pub max_pending_count: u64,
    /// Most declared bytes of pending reservations per project.
    pub max_pending_bytes: u64,
}

/// Records, listings, usage and quotas, and (its supertrait) the control plane.
/// Implementations are shared by every request thread.
pub trait Catalog: ControlPlane + Send + Sync + 'static {
    /// The record of `id`, in whatever state it is.
    fn record(&self, id: AttachmentId) -> CatalogResult<Option<Attachment>>;

    /// Records a new pending reservation `rec` (owner and size as declared) if the project
    /// exists and is not deleted, neither its quota nor the owner's would be exceeded (by
    /// declared size, counting everything not deleted) and the project's pending caps allow it;
    /// checks in that order (owner, project, pending count, size, pending bytes). Atomic
    /// against every other reserve and update. [`Durability::Logged`].
    ///
    /// `replacing` is a live record the upload will retire in its commit (a slot's previous
    /// file): the quotas are checked as if it were already gone (its bytes are subtracted from
    /// the project's usage, and from the owner's when it is the same owner), so replacing a
    /// file by one of the same size never fails on a full quota.
    fn reserve(&self, rec: &Attachment, limits: &ReserveLimits, replacing: Option<&Attachment>) -> CatalogResult<()>;

    /// Replaces `old` by `new` (`None`: the record is removed) if the stored record still
    /// equals `old`; returns whether it did. Rows and counters follow from the two states.
    fn update(&self, old: &Attachment, new: Option<&Attachment>, durability: Durability) -> CatalogResult<bool>;

    /// A project's visible (not deleted) attachments, newest first (ties: smaller id first),
    /// from `after`.
    fn list_project<'a>(
        &'a self,
        project: &ProjectId,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<TimelineRow>> + 'a>;

    /// The visible attachments under `parent`, newest first, from `after`, with their project.
    fn list_parent<'a>(
        &'a self,
        parent: &ParentRef,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<(TimelineRow, ProjectId)>> + 'a>;

    /// Usage of a project (`user` None) or of one owner in it: declared bytes and count of
    /// everything not deleted.
    fn usage(&self, project: &ProjectId, user: Option<&EndUserId>) -> CatalogResult<Counter>;

    /// A project's pending reservations (`None`: all projects').
    fn pending(&self, project: Option<&ProjectId>) -> Pending;

    /// Up to `limit` pending reservations that lapsed before `before`, oldest first.
    fn lapsed(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>>;

    /// Up to `limit` files waiting for a content scan (uploaded, live, scan state `Pending`),
    /// oldest upload first. The queue is part of the records' state: a file joins it in its
    /// upload's commit and leaves it in the transition that records the verdict (or deletes
    /// it), so it survives restarts exactly as the upload does.
    fn scan_queue(&self, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>>;

    /// [`Catalog::update`], and in the same atomic write, `notice` queued for the project's
    /// webhook: the notice exists exactly if the change committed.
    fn update_noting(
        &self,
        old: &Attachment,
        new: Option<&Attachment>,
        durability: Durability,
        notice: &Notice,
    ) -> CatalogResult<bool>;

    /// Up to `limit` queued notices, oldest first.
    fn notices(&self, limit: usize) -> CatalogResult<Vec<Notice>>;

    /// Removes a delivered notice.
    fn notice_sent(&self, notice: &Notice) -> CatalogResult<()>;

    /// Up to `limit` live attachments whose removal deadline (`Retention::Until`) is before
    /// `before`, oldest deadline first, in any upload state.
    fn ephemeral_due(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>>;

    /// Up to `limit` soft-deleted attachments deleted before `before`, oldest first. An entry
    /// whose record no longer matches (see [`Catalog::forget_deleted`]) may appear.
    fn deleted_before(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>>;

    /// Drops the entry `(deleted_at, id)` of [`Catalog::deleted_before`] that no record
    /// accounts for, so a sweep never meets it again.
    fn forget_deleted(&self, deleted_at: Timestamp, id: AttachmentId) -> CatalogResult<()>;

    /// Locks `parent` against every process sharing the catalog until the returned guard is
    /// dropped: the reserve-and-commit of an upload into a parent that holds one live file (a
    /// slot) runs under it, so two replicas replacing the same slot take turns. A catalog
    /// only one process ever uses may hold nothing (the service's in-process lock serialises
    /// its uploads already).
    fn lock_parent(&self, parent: &ParentRef) -> CatalogResult<Box<dyn std::any::Any + Send>> {
        let _ = parent;
        Ok(Box::new(()))
    }

    /// Up to `limit` records after `after` (`None`: from the first), in id order, in whatever
    /// state: how a migration reads every record.
    fn records_after(&self, after: Option<AttachmentId>, limit: usize) -> CatalogResult<Vec<Attachment>>;

    /// Records `rec` exactly as it is, with every row and counter it implies and no quota
    /// check, unless a record with its id exists (then nothing changes); returns whether it
    /// did. How a migration writes records; synced.
    fn import(&self, rec: &Attachment) -> CatalogResult<bool>;
}
