//! [`LocalCatalog`]: the [`Catalog`] on the RocksDB index of one machine.
//!
//! Atomicity comes from in-process stripes: a reserve holds its project's quota stripe while it
//! reads usage and the project, checks, and commits; an update holds the record's stripe while
//! it compares the stored record with the caller's and commits, and the project's quota stripe
//! too when the change moves usage. The group committer takes the same record stripes
//! ([`LocalCatalog::record_locks`]). Lock order: record stripe, then quota stripe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clock::Timestamp;
use crate::engine::{Catalog, CatalogError, CatalogResult, Durability, ReserveLimits};
use crate::ids::{AttachmentId, EndUserId, ProjectId};
use crate::index::derived::{CounterKey, shares_of};
use crate::index::prelude::*;
use crate::index::{Index, IndexError};
use crate::model::control::Project;
use crate::model::{After, Attachment, Counter, Notice, ParentRef, Pending, TimelineRow};

use crate::stripes::Stripes;

/// The catalog of the local backend.
pub struct LocalCatalog {
    index: Arc<Index>,
    pub(super) quota_locks: Arc<Stripes>,
    /// Serialises control-plane calls (`control.rs`).
    pub(super) control_lock: Mutex<()>,
    record_locks: Arc<Stripes>,
    /// Projects as last read, for the reserve path; dropped whole by [`LocalCatalog::forget_projects`]
    /// after every control-plane commit.
    projects: Mutex<HashMap<ProjectId, Arc<Project>>>,
}

impl From<IndexError> for CatalogError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Corrupt { cf, what } => CatalogError::Corrupt(format!("{cf}: {what}")),
            other => CatalogError::Backend(other.to_string()),
        }
    }
}

impl LocalCatalog {
    /// A catalog over `index`.
    pub fn new(index: Arc<Index>) -> Self {
        Self {
            index,
            quota_locks: Arc::new(Stripes::new(256)),
            control_lock: Mutex::new(()),
            record_locks: Arc::new(Stripes::new(1024)),
            projects: Mutex::new(HashMap::new()),
        }
    }

    /// A compare-and-set transition, with `notice` queued in the same batch.
    fn update_with(
        &self,
        old: &Attachment,
        new: Option<&Attachment>,
        durability: Durability,
        notice: Option<&Notice>,
    ) -> CatalogResult<bool> {
        let _record = self.record_locks.lock(old.id.as_bytes());
        if self.index.record(old.id)?.as_ref() != Some(old) {
            return Ok(false);
        }
        let _quota = moves_usage(old, new).then(|| self.quota_locks.lock(old.project_id.as_bytes()));
        let mut batch = self.index.batch();
        batch.transition(Some(old), new)?;
        if let Some(n) = notice {
            batch.put_notice(n);
        }
        batch.commit(durability == Durability::Synced)?;
        Ok(true)
    }

    /// The index (the control plane reads and writes it through this).
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// The quota stripes, shared with the group committer (which retires replaced records).
    pub fn quota_locks(&self) -> &Arc<Stripes> {
        &self.quota_locks
    }

    /// The record and quota stripes, for the group committer.
    pub fn locks(&self) -> super::commit::Locks {
        super::commit::Locks { records: self.record_locks.clone(), quotas: self.quota_locks.clone() }
    }

    /// The record stripes, shared with the group committer.
    pub fn record_locks(&self) -> &Arc<Stripes> {
        &self.record_locks
    }

    /// Forgets every cached project. The control plane calls it after each commit, inside the
    /// project's quota stripe when the change is one a reserve must see (a deletion, quotas).
    pub fn forget_projects(&self) {
        self.projects.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn cached_project(&self, id: &ProjectId) -> CatalogResult<Option<Arc<Project>>> {
        if let Some(p) = self.projects.lock().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(Some(p.clone()));
        }
        let Some(p) = self.index.project(id)?.map(Arc::new) else { return Ok(None) };
        self.projects.lock().unwrap_or_else(|e| e.into_inner()).insert(*id, p.clone());
        Ok(Some(p))
    }

    fn check_limits(
        &self,
        rec: &Attachment,
        limits: &ReserveLimits,
        replacing: Option<&Attachment>,
    ) -> CatalogResult<()> {
        let project = self
            .cached_project(&rec.project_id)?
            .filter(|p| p.deleted_at.is_none())
            .ok_or(CatalogError::ProjectGone)?;
        let project_quota = project.project_quota_bytes.unwrap_or(limits.default_project_quota);
        let user_quota = project.user_quota_bytes.unwrap_or(limits.default_user_quota);
        // What the replaced record frees, counted only if, as stored now, it still counts
        // (live, same project): never on the caller's word.
        let freed = match replacing {
            Some(o) => self.index.record(o.id)?.filter(|s| s.deleted_at.is_none() && s.project_id == rec.project_id),
            None => None,
        };
        let freed = freed.as_ref();
        let project_credit = freed.map_or(0, |o| o.size_bytes);
        let user_credit = freed.filter(|o| o.owner == rec.owner).map_or(0, |o| o.size_bytes);
        if let Some(user) = &rec.owner {
            let used = self.index.user_usage(&project.id, user)?.bytes_u64().saturating_sub(user_credit);
            if used.saturating_add(rec.size_bytes) > user_quota {
                return Err(CatalogError::UserQuota { quota: user_quota, used });
            }
        }
        let used = self.index.project_usage(&project.id)?.bytes_u64().saturating_sub(project_credit);
        if used.saturating_add(rec.size_bytes) > project_quota {
            return Err(CatalogError::ProjectQuota { quota: project_quota, used });
        }
        let pending = self.index.pending().of(&project.id);
        if pending.count >= limits.max_pending_count {
            return Err(CatalogError::TooManyPending { what: "count" });
        }
        if rec.size_bytes > limits.max_pending_bytes {
            return Err(CatalogError::TooLarge { size: rec.size_bytes, max: limits.max_pending_bytes });
        }
        if pending.bytes.saturating_add(rec.size_bytes) > limits.max_pending_bytes {
            return Err(CatalogError::TooManyPending { what: "bytes" });
        }
        Ok(())
    }
}

/// Whether going from `old` to `new` changes what the record counts in usage.
fn moves_usage(old: &Attachment, new: Option<&Attachment>) -> bool {
    let usage = |r: &Attachment| -> Vec<_> {
        shares_of(r).into_iter().filter(|(k, _)| matches!(k, CounterKey::Usage(..))).collect()
    };
    usage(old) != new.map(usage).unwrap_or_default()
}

impl Catalog for LocalCatalog {
    fn record(&self, id: AttachmentId) -> CatalogResult<Option<Attachment>> {
        Ok(self.index.record(id)?)
    }

    fn reserve(&self, rec: &Attachment, limits: &ReserveLimits, replacing: Option<&Attachment>) -> CatalogResult<()> {
        let _quota = self.quota_locks.lock(rec.project_id.as_bytes());
        // The project is read under the lock a project's deletion holds while it commits: a
        // reservation either lands before the project is deleted (and is soft-deleted with it)
        // or is refused.
        self.check_limits(rec, limits, replacing)?;
        let mut batch = self.index.batch();
        batch.transition(None, Some(rec))?;
        // Not synced: a reservation survives a process crash (the WAL is written), and the
        // next synced commit persists it; only uploads promise power-loss durability.
        batch.commit(false)?;
        Ok(())
    }

    fn update(&self, old: &Attachment, new: Option<&Attachment>, durability: Durability) -> CatalogResult<bool> {
        self.update_with(old, new, durability, None)
    }

    fn update_noting(
        &self,
        old: &Attachment,
        new: Option<&Attachment>,
        durability: Durability,
        notice: &Notice,
    ) -> CatalogResult<bool> {
        self.update_with(old, new, durability, Some(notice))
    }

    fn notices(&self, limit: usize) -> CatalogResult<Vec<Notice>> {
        Ok(self.index.notices(limit)?)
    }

    fn notice_sent(&self, notice: &Notice) -> CatalogResult<()> {
        let mut batch = self.index.batch();
        batch.delete_notice(notice);
        batch.commit(false)?;
        Ok(())
    }

    fn list_project<'a>(
        &'a self,
        project: &ProjectId,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<TimelineRow>> + 'a> {
        Box::new(self.index.list_project(project, after).map(|r| r.map_err(CatalogError::from)))
    }

    fn list_parent<'a>(
        &'a self,
        parent: &ParentRef,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<(TimelineRow, ProjectId)>> + 'a> {
        Box::new(self.index.list_filter(parent, after).map(|r| r.map_err(CatalogError::from)))
    }

    fn usage(&self, project: &ProjectId, user: Option<&EndUserId>) -> CatalogResult<Counter> {
        Ok(match user {
            Some(u) => self.index.user_usage(project, u)?,
            None => self.index.project_usage(project)?,
        })
    }

    fn pending(&self, project: Option<&ProjectId>) -> Pending {
        match project {
            Some(p) => self.index.pending().of(p),
            None => self.index.pending().total(),
        }
    }

    fn lapsed(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        Ok(self.index.expired_reservations(before, limit)?)
    }

    fn scan_queue(&self, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        Ok(self.index.scan_queue(limit)?)
    }

    fn ephemeral_due(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        Ok(self.index.ephemeral_due(before, limit)?)
    }

    fn deleted_before(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        Ok(self.index.deleted_before(before, limit)?)
    }

    fn records_after(&self, after: Option<AttachmentId>, limit: usize) -> CatalogResult<Vec<Attachment>> {
        Ok(self.index.records_after(after, limit)?)
    }

    fn import(&self, rec: &Attachment) -> CatalogResult<bool> {
        let _record = self.record_locks.lock(rec.id.as_bytes());
        if self.index.record(rec.id)?.is_some() {
            return Ok(false);
        }
        let _quota = self.quota_locks.lock(rec.project_id.as_bytes());
        let mut batch = self.index.batch();
        batch.transition(None, Some(rec))?;
        batch.commit(true)?;
        Ok(true)
    }

    fn forget_deleted(&self, deleted_at: Timestamp, id: AttachmentId) -> CatalogResult<()> {
        let _record = self.record_locks.lock(id.as_bytes());
        let mut batch = self.index.batch();
        batch.delete_deleted_row(deleted_at, id);
        batch.commit(false)?;
        Ok(())
    }
}
