//! The catalog half of an upload's commit on PostgreSQL: one transaction that moves the record
//! from pending to uploaded at its object's location (with the measured size and digests when
//! the reservation was for *at most* a size) and retires the record it replaces, if still live.
//! It runs only after the object store acknowledged the bytes (`blobs.rs`).

use super::catalog::PgCatalog;
use super::rows;
use super::runner::{pg_error, pool_error};
use crate::clock::Timestamp;
use crate::engine::{BlobError, BlobResult, CatalogResult, Measured};
use crate::ids::AttachmentId;
use crate::model::{Attachment, Digests, Location};

/// Refuses a commit of `rec` unless it is pending, and a settled body larger than reserved.
pub fn check_pending(rec: &Attachment, settled_len: Option<u64>) -> BlobResult<()> {
    if rec.deleted_at.is_some() {
        return Err(BlobError::RecordDeleted);
    }
    if rec.uploaded_at.is_some() {
        return Err(BlobError::AlreadyUploaded);
    }
    if settled_len.is_some_and(|len| len > rec.size_bytes) {
        return Err(BlobError::Backend("a settled body larger than its reservation".into()));
    }
    Ok(())
}

impl PgCatalog {
    /// The record `id`, read on the caller's runtime (the backend's own).
    pub async fn record_async(&self, id: AttachmentId) -> CatalogResult<Option<Attachment>> {
        let c = self.runner.pool().get().await.map_err(pool_error)?;
        rows::read(&c, id).await
    }
}

/// Commits the upload of `id` (see the module docs); resolves with the record as committed.
pub async fn commit_uploaded(
    catalog: &PgCatalog,
    id: AttachmentId,
    location: Location,
    now: Timestamp,
    settle: Option<Measured>,
    replaces: Option<Attachment>,
) -> BlobResult<Attachment> {
    let mut c = catalog.runner.pool().get().await.map_err(pool_error)?;
    let tx = c.transaction().await.map_err(pg_error)?;
    // Lock order: the replaced record and the uploaded one by id order, then usage rows.
    let mut ids = vec![id];
    if let Some(r) = replaces.as_ref().filter(|r| r.id != id) {
        ids.push(r.id);
    }
    ids.sort();
    let mut locked = Vec::new();
    for i in &ids {
        locked.push((*i, rows::lock_record(&tx, i.0).await?));
    }
    let stored = |want: AttachmentId| locked.iter().find(|(i, _)| *i == want).and_then(|(_, r)| r.clone());
    let old = stored(id).ok_or(BlobError::RecordGone)?;
    check_pending(&old, settle.map(|m| m.len))?;
    let mut new = old.clone();
    new.location = Some(location);
    new.uploaded_at = Some(now);
    if let Some(m) = settle {
        new.size_bytes = m.len;
        new.digests = Digests { sha256: m.sha256, md5: m.md5 };
    }
    if let Some(live) = replaces.and_then(|r| stored(r.id)).filter(|r| r.deleted_at.is_none() && r.id != id) {
        let retired = Attachment { deleted_at: Some(now), ..live.clone() };
        rows::replace(&tx, &live, &retired).await?;
        rows::move_counters(&tx, Some(&live), Some(&retired)).await?;
    }
    rows::replace(&tx, &old, &new).await?;
    rows::move_counters(&tx, Some(&old), Some(&new)).await?;
    tx.commit().await.map_err(pg_error)?;
    Ok(new)
}
