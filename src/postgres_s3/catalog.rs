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
//! Queues (lapsed reservations, scans, ephemeral deadlines, soft deletions, notices) are reads
//! of partial indexes that *lease* what they return: `SELECT … FOR UPDATE SKIP LOCKED` picks
//! entries no other replica holds a live lease on, and the same statement stamps them with this
//! replica's id and a deadline ([`LEASE`]). The jobs of N replicas thus share a queue instead
//! of each doing all of it; a replica sees its own leased entries again (its job retries them),
//! and a replica that dies leaves its entries to the others when the lease runs out. The lease
//! only spreads work: the compare-and-set of the transition that acts on an entry still lets
//! exactly one actor win, whatever the clocks say.

use std::sync::Arc;

use super::rows::{self, from_ts, ts};
use super::runner::{Runner, is_retryable, pg_error, pool_error};
use crate::clock::Timestamp;
use crate::engine::{Catalog, CatalogError, CatalogResult, Durability, ReserveLimits};
use crate::ids::{AttachmentId, EndUserId, ProjectId};
use crate::model::{After, Attachment, Counter, FileEvent, Notice, ParentRef, Pending, TimelineRow};

/// Rows fetched per round trip by the listing iterators.
const PAGE: i64 = 256;

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

    fn page<T: Send + 'static>(
        &self,
        sql: &'static str,
        key: String,
        after: After,
        row: fn(&tokio_postgres::Row) -> T,
    ) -> CatalogResult<Vec<T>> {
        self.with(move |c| async move {
            let (t, id) = match after {
                After::Start => (i64::MAX, uuid::Uuid::nil()),
                After::Row(t, id) => (ts(t), id.0),
                // Strictly older: every row at `t` is past, so start after the largest id.
                After::OlderThan(t) => (ts(t), uuid::Uuid::max()),
            };
            let start = matches!(after, After::Start);
            let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
            let rows = c.query(&stmt, &[&key, &t, &id, &start, &PAGE]).await.map_err(pg_error)?;
            Ok(rows.iter().map(row).collect())
        })
    }

    /// Up to `limit` entries of a queue — rows matching `cond`, ordered by `col` then id, with
    /// `col < before` — that no other replica holds a live lease on, leased to this replica for
    /// [`LEASE`] (see the module docs).
    fn due(
        &self,
        col: &'static str,
        cond: &'static str,
        before: Timestamp,
        limit: usize,
    ) -> CatalogResult<Vec<(Timestamp, AttachmentId)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let me = self.replica;
        let sql = format!(
            "WITH picked AS (
                SELECT id FROM attachments
                WHERE {cond} AND {col} < $1
                  AND (claimed_until IS NULL OR claimed_until < $3 OR claimed_by = $4)
                ORDER BY {col}, id LIMIT $2
                FOR UPDATE SKIP LOCKED)
             UPDATE attachments a SET claimed_by = $4, claimed_until = $3 + $5
             FROM picked WHERE a.id = picked.id
             RETURNING a.{col}, a.id"
        );
        self.with(move |c| async move {
            let now = ts(Timestamp::now());
            let stmt = c.prepare_cached(&sql).await.map_err(pg_error)?;
            let rows = c.query(&stmt, &[&ts(before), &limit, &now, &me, &LEASE_MICROS]).await.map_err(pg_error)?;
            let mut out: Vec<_> = rows.iter().map(|r| (from_ts(r.get(0)), AttachmentId(r.get(1)))).collect();
            out.sort();
            Ok(out)
        })
    }
}

/// How long a replica's claim on a queue entry keeps other replicas' jobs off it; a replica
/// that dies mid-job leaves its entries to the others after this.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(120);
const LEASE_MICROS: i64 = LEASE.as_micros() as i64;

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

fn event_tag(e: FileEvent) -> i16 {
    match e {
        FileEvent::Processed => 1,
        FileEvent::Infected => 2,
        FileEvent::Failed => 3,
    }
}

fn event_of(tag: i16) -> CatalogResult<FileEvent> {
    match tag {
        1 => Ok(FileEvent::Processed),
        2 => Ok(FileEvent::Infected),
        3 => Ok(FileEvent::Failed),
        t => Err(CatalogError::Corrupt(format!("outbox: unknown event {t}"))),
    }
}

const LIST_PROJECT: &str = "SELECT created_at, id FROM attachments
    WHERE project_id = $1::text::uuid AND deleted_at IS NULL
      AND ($4 OR created_at < $2 OR (created_at = $2 AND id > $3))
    ORDER BY created_at DESC, id LIMIT $5";

const LIST_PARENT: &str = "SELECT created_at, id, project_id FROM attachment_parents
    WHERE parent = $1 AND ($4 OR created_at < $2 OR (created_at = $2 AND id > $3))
    ORDER BY created_at DESC, id LIMIT $5";

/// Pages through a listing, fetching the next page when the last is used up.
struct Pages<'a, T> {
    fetch: Box<dyn FnMut(After) -> CatalogResult<Vec<T>> + 'a>,
    key: fn(&T) -> TimelineRow,
    buf: std::vec::IntoIter<T>,
    next: Option<After>,
}

impl<T> Iterator for Pages<'_, T> {
    type Item = CatalogResult<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(x) = self.buf.next() {
            return Some(Ok(x));
        }
        let after = self.next.take()?;
        match (self.fetch)(after) {
            Err(e) => Some(Err(e)),
            Ok(page) => {
                if page.len() as i64 == PAGE {
                    let last = (self.key)(page.last().expect("a full page"));
                    self.next = Some(After::Row(last.created_at, last.id));
                }
                self.buf = page.into_iter();
                self.buf.next().map(Ok)
            }
        }
    }
}

impl Catalog for PgCatalog {
    fn record(&self, id: AttachmentId) -> CatalogResult<Option<Attachment>> {
        self.with(move |c| async move {
            let row = c
                .query_opt(
                    &c.prepare_cached("SELECT record FROM attachments WHERE id = $1").await.map_err(pg_error)?,
                    &[&id.0],
                )
                .await
                .map_err(pg_error)?;
            row.map(|r| rows::decode(r.get::<_, &[u8]>(0))).transpose()
        })
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
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let me = self.replica;
        self.with(move |c| async move {
            let now = ts(Timestamp::now());
            let mut rows = c
                .query(
                    &c.prepare_cached(
                        "WITH picked AS (
                        SELECT queued_at, id FROM outbox
                        WHERE claimed_until IS NULL OR claimed_until < $2 OR claimed_by = $3
                        ORDER BY queued_at, id LIMIT $1
                        FOR UPDATE SKIP LOCKED)
                     UPDATE outbox o SET claimed_by = $3, claimed_until = $2 + $4
                     FROM picked WHERE o.queued_at = picked.queued_at AND o.id = picked.id
                     RETURNING o.queued_at, o.id, o.project_id, o.event",
                    )
                    .await
                    .map_err(pg_error)?,
                    &[&limit, &now, &me, &LEASE_MICROS],
                )
                .await
                .map_err(pg_error)?;
            rows.sort_by_key(|r| (r.get::<_, i64>(0), r.get::<_, uuid::Uuid>(1)));
            rows.iter()
                .map(|r| {
                    Ok(Notice {
                        at: from_ts(r.get(0)),
                        file: AttachmentId(r.get(1)),
                        project: ProjectId(r.get(2)),
                        event: event_of(r.get(3))?,
                    })
                })
                .collect()
        })
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
        let key = project.0.to_string();
        let row = |r: &tokio_postgres::Row| TimelineRow { created_at: from_ts(r.get(0)), id: AttachmentId(r.get(1)) };
        Box::new(Pages {
            fetch: Box::new(move |after| self.page(LIST_PROJECT, key.clone(), after, row)),
            key: |r| *r,
            buf: Vec::new().into_iter(),
            next: Some(after),
        })
    }

    fn list_parent<'a>(
        &'a self,
        parent: &ParentRef,
        after: After,
    ) -> Box<dyn Iterator<Item = CatalogResult<(TimelineRow, ProjectId)>> + 'a> {
        let key = rows::parent_key(parent);
        let row = |r: &tokio_postgres::Row| {
            (TimelineRow { created_at: from_ts(r.get(0)), id: AttachmentId(r.get(1)) }, ProjectId(r.get(2)))
        };
        Box::new(Pages {
            fetch: Box::new(move |after| self.page(LIST_PARENT, key.clone(), after, row)),
            key: |r| r.0,
            buf: Vec::new().into_iter(),
            next: Some(after),
        })
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
