//! [`PgCatalog`]: the [`Catalog`] on PostgreSQL, shared by any number of replicas.
//!
//! Atomicity comes from PostgreSQL, never from a replica's memory: a transition locks the
//! record's row (`SELECT … FOR UPDATE`), compares it with the caller's, writes the new state and
//! moves the counters in one transaction; a reserve (`reserve.rs`) counts itself into its
//! project's and owner's usage rows with conditional `UPDATE`s that refuse to pass a quota. Row
//! locks are always taken record first, then the project's usage row, then the owner's, so
//! two transactions never wait on each other in a circle; PostgreSQL's deadlock detector is
//! the backstop, and a transaction it aborts is run again.
//!
//! Listings are keyset reads a page at a time (`listing.rs`); the jobs' queues are reads that
//! lease what they return (`queues.rs`).

use std::sync::Arc;

use super::queues::event_tag;
use super::rows::{self, ts};
use super::runner::{Runner, is_retryable, pg_error, pool_error};
use crate::clock::Timestamp;
use crate::engine::{Catalog, CatalogError, CatalogResult, Durability, ReserveLimits};
use crate::ids::{AttachmentId, EndUserId, ProjectId};
use crate::model::{After, Attachment, Counter, Notice, ParentRef, Pending, TimelineRow};

/// The PostgreSQL catalog.
pub struct PgCatalog {
    pub(super) runner: Arc<Runner>,
    /// This replica's id, for its leases on queue entries.
    pub(super) replica: uuid::Uuid,
}

impl PgCatalog {
    /// Runs `f` with a pooled connection on the backend's runtime.
    pub(super) fn with<F, Fut, T>(&self, f: F) -> CatalogResult<T>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = CatalogResult<T>> + Send,
        T: Send + 'static,
    {
        let pool = self.runner.pool().clone();
        self.runner.run(async move {
            let c = pool.get().await.map_err(pool_error)?;
            f(c).await
        })
    }

    fn transition(
        &self,
        old: &Attachment,
        new: Option<&Attachment>,
        durability: Durability,
        notice: Option<&Notice>,
    ) -> CatalogResult<bool> {
        let (old, new, notice) = (old.clone(), new.cloned(), notice.copied());
        self.with(move |mut c| async move {
            loop {
                let tx = c.transaction().await.map_err(pg_error)?;
                match transition_in(&tx, &old, new.as_ref(), durability, notice).await {
                    Ok(false) => return Ok(false),
                    Ok(true) => match tx.commit().await {
                        Ok(()) => return Ok(true),
                        Err(e) if is_retryable(&e) => continue,
                        Err(e) => return Err(pg_error(e)),
                    },
                    Err(Retry::Again) => continue,
                    Err(Retry::Fail(e)) => return Err(e),
                }
            }
        })
    }
}

/// How a transaction attempt ended without an answer.
enum Retry {
    /// PostgreSQL aborted it to break a deadlock: run it again.
    Again,
    /// It failed.
    Fail(CatalogError),
}

impl From<CatalogError> for Retry {
    fn from(e: CatalogError) -> Self {
        Retry::Fail(e)
    }
}

async fn transition_in(
    tx: &deadpool_postgres::Transaction<'_>,
    old: &Attachment,
    new: Option<&Attachment>,
    durability: Durability,
    notice: Option<Notice>,
) -> Result<bool, Retry> {
    if durability == Durability::Logged {
        // Survives a crash of attachd (PostgreSQL has it); made durable by the WAL writer
        // within moments, as the contract allows.
        tx.batch_execute("SET LOCAL synchronous_commit TO off").await.map_err(|e| Retry::Fail(pg_error(e)))?;
    }
    let stored = match rows::lock_record(tx, old.id.0).await {
        Ok(s) => s,
        Err(e) => return Err(e.into()),
    };
    if stored.as_ref() != Some(old) {
        return Ok(false);
    }
    match new {
        Some(n) => rows::replace(tx, old, n).await?,
        None => rows::remove(tx, old).await?,
    }
    rows::move_counters(tx, Some(old), new).await?;
    if let Some(n) = notice {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO outbox (queued_at, id, project_id, event) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(pg_error)?,
            &[&ts(n.at), &n.file.0, &n.project.0, &event_tag(n.event)],
        )
        .await
        .map_err(|e| if is_retryable(&e) { Retry::Again } else { Retry::Fail(pg_error(e)) })?;
    }
    Ok(true)
}

impl Catalog for PgCatalog {
    fn record(&self, id: AttachmentId) -> CatalogResult<Option<Attachment>> {
        self.with(move |c| async move { rows::read(&c, id).await })
    }

    fn reserve(&self, rec: &Attachment, limits: &ReserveLimits, replacing: Option<&Attachment>) -> CatalogResult<()> {
        super::reserve::reserve(self, rec, limits, replacing)
    }

    fn update(&self, old: &Attachment, new: Option<&Attachment>, durability: Durability) -> CatalogResult<bool> {
        self.transition(old, new, durability, None)
    }

    fn update_noting(
        &self,
        old: &Attachment,
        new: Option<&Attachment>,
        durability: Durability,
        notice: &Notice,
    ) -> CatalogResult<bool> {
        self.transition(old, new, durability, Some(notice))
    }

    fn notices(&self, limit: usize) -> CatalogResult<Vec<Notice>> {
        self.claim_notices(limit)
    }

    fn notice_sent(&self, notice: &Notice) -> CatalogResult<()> {
        let n = *notice;
        self.with(move |c| async move {
            c.execute(
                &c.prepare_cached("DELETE FROM outbox WHERE queued_at = $1 AND id = $2").await.map_err(pg_error)?,
                &[&ts(n.at), &n.file.0],
            )
            .await
            .map_err(pg_error)?;
            Ok(())
        })
    }

    fn list_project<'a>(
        &'a self,
        project: &ProjectId,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<TimelineRow>> + 'a> {
        self.project_rows(project, after)
    }

    fn list_parent<'a>(
        &'a self,
        parent: &ParentRef,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<(TimelineRow, ProjectId)>> + 'a> {
        self.parent_rows(parent, after)
    }

    fn usage(&self, project: &ProjectId, user: Option<&EndUserId>) -> CatalogResult<Counter> {
        let (p, u) = (project.0, user.map(|u| u.0.clone()));
        self.with(move |c| async move {
            let row = match u {
                None => {
                    c.query_opt(
                        &c.prepare_cached("SELECT bytes, files FROM project_usage WHERE project_id = $1")
                            .await
                            .map_err(pg_error)?,
                        &[&p],
                    )
                    .await
                }
                Some(u) => {
                    c.query_opt(
                        &c.prepare_cached("SELECT bytes, files FROM user_usage WHERE project_id = $1 AND owner = $2")
                            .await
                            .map_err(pg_error)?,
                        &[&p, &u],
                    )
                    .await
                }
            }
            .map_err(pg_error)?;
            Ok(row.map(|r| Counter { bytes: r.get(0), count: r.get(1) }).unwrap_or_default())
        })
    }

    fn pending(&self, project: Option<&ProjectId>) -> Pending {
        let p = project.map(|p| p.0);
        let got = self.with(move |c| async move {
            let row = c
                .query_one(
                    &c.prepare_cached(
                        "SELECT count(*), coalesce(sum(size_bytes), 0)::bigint FROM attachments
                     WHERE uploaded_at IS NULL AND deleted_at IS NULL AND ($1::uuid IS NULL OR project_id = $1)",
                    )
                    .await
                    .map_err(pg_error)?,
                    &[&p],
                )
                .await
                .map_err(pg_error)?;
            let (n, b): (i64, i64) = (row.get(0), row.get(1));
            Ok(Pending { count: n.max(0) as u64, bytes: b.max(0) as u64 })
        });
        got.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "pending totals unavailable");
            Pending::default()
        })
    }

    fn lapsed(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        self.due("expires_at", "uploaded_at IS NULL AND deleted_at IS NULL", before, limit)
    }

    fn scan_queue(&self, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        self.due("uploaded_at", "scan_queued", Timestamp(i64::MAX as u64), limit)
    }

    fn ephemeral_due(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        self.due("remove_at", "remove_at IS NOT NULL AND deleted_at IS NULL", before, limit)
    }

    fn deleted_before(&self, before: Timestamp, limit: usize) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        self.due("deleted_at", "deleted_at IS NOT NULL", before, limit)
    }

    fn lock_parent(&self, parent: &ParentRef) -> CatalogResult<Box<dyn std::any::Any + Send>> {
        Ok(Box::new(super::locks::lock_parent(&self.runner, parent)?))
    }

    fn records_after(&self, after: Option<AttachmentId>, limit: usize) -> CatalogResult<Vec<Attachment>> {
        let (after, limit) = (after.map(|a| a.0), i64::try_from(limit).unwrap_or(i64::MAX));
        self.with(move |c| async move {
            let rows = c
                .query(
                    &c.prepare_cached(
                        "SELECT record FROM attachments WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
                    )
                    .await
                    .map_err(pg_error)?,
                    &[&after, &limit],
                )
                .await
                .map_err(pg_error)?;
            rows.iter().map(|r| rows::decode(r.get::<_, &[u8]>(0))).collect()
        })
    }

    fn import(&self, rec: &Attachment) -> CatalogResult<bool> {
        let rec = rec.clone();
        self.with(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg_error)?;
            let exists = tx
                .query_opt(
                    &tx.prepare_cached("SELECT 1 FROM attachments WHERE id = $1 FOR UPDATE").await.map_err(pg_error)?,
                    &[&rec.id.0],
                )
                .await
                .map_err(pg_error)?
                .is_some();
            if exists {
                return Ok(false);
            }
            rows::insert(&tx, &rec).await?;
            rows::move_counters(&tx, None, Some(&rec)).await?;
            tx.commit().await.map_err(pg_error)?;
            Ok(true)
        })
    }

    fn forget_deleted(&self, _deleted_at: Timestamp, _id: AttachmentId) -> CatalogResult<()> {
        // The deletion queue is a partial index of the records themselves: it never holds an
        // entry no record accounts for.
        Ok(())
    }
}
