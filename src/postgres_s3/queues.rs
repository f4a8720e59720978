//! The background jobs' queues on PostgreSQL: partial-index reads that *lease* what they
//! return. `SELECT … FOR UPDATE SKIP LOCKED` picks entries no other replica holds a live lease
//! on, and the same statement stamps them with this replica's id and a deadline ([`LEASE`]);
//! a replica sees its own leased entries again (its job retries them), and one that dies
//! leaves its entries to the others when the lease runs out. The lease only spreads the work:
//! the compare-and-set of the transition that acts on an entry lets exactly one actor win.

use super::PgCatalog;
use super::rows::{from_ts, ts};
use super::runner::pg_error;
use crate::clock::Timestamp;
use crate::engine::{CatalogError, CatalogResult};
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{FileEvent, Notice};

/// How long a replica's claim on a queue entry keeps other replicas' jobs off it; a replica
/// that dies mid-job leaves its entries to the others after this.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(120);
const LEASE_MICROS: i64 = LEASE.as_micros() as i64;

impl PgCatalog {
    /// Up to `limit` entries of a queue — rows matching `cond`, ordered by `col` then id, with
    /// `col < before` — that no other replica holds a live lease on, leased to this replica for
    /// [`LEASE`] (see the module docs).
    pub(super) fn due(
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

    /// Up to `limit` queued notices no other replica holds a lease on, leased to this one.
    pub(super) fn claim_notices(&self, limit: usize) -> CatalogResult<Vec<Notice>> {
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
}

pub(super) fn event_tag(e: FileEvent) -> i16 {
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
