//! The one creation on PostgreSQL: a reservation counted into its project's and owner's usage
//! with conditional `UPDATE`s, so no number of replicas can overshoot a quota.
//!
//! One statement, `SELECT attachd_reserve(…)` (a function the migration installs; see
//! `schema.rs`), is the whole reservation and its own transaction: the record and its parent
//! rows are inserted; the project's usage row is moved by the declared size *only if* the
//! project is live and its quota allows it, crediting the record it replaces if that is, as
//! stored, still live in the project (`UPDATE … WHERE … RETURNING`: the check and the count
//! are one statement under the row's lock, never a read-check-write); the project's pending
//! reservations are counted from their index under that lock (every reserve of the project
//! holds it, so the count cannot grow meanwhile) and checked against the caps; then the
//! owner's row is moved like the project's. The row locks every reserve of a project queues
//! on are thus held only while the server runs it, never across a client round trip.
//!
//! A refusal raises SQLSTATE `AT001` (the transaction keeps nothing); the refusal is then named
//! from the counters as they are, in the order the trait states (owner, project, pending
//! count, size, pending bytes). The quotas and the deletion flag the `UPDATE` checks live on
//! the project's row, written by the control plane in its own transaction, so a reserve sees
//! a quota change or a deletion whole or not at all.

use super::PgCatalog;
use super::rows::{self, size};
use super::runner::{is_retryable, pg_error};
use crate::engine::{CatalogError, CatalogResult, ReserveLimits};
use crate::model::{Attachment, codec};

/// The SQLSTATE `attachd_reserve` raises when a quota or cap refuses.
const REFUSED: &str = "AT001";

/// Bytes the replaced record frees: (project, owner).
type Credit = (i64, i64);

/// Records `rec` as a pending reservation (see the module docs).
pub fn reserve(
    cat: &PgCatalog,
    rec: &Attachment,
    limits: &ReserveLimits,
    replacing: Option<&Attachment>,
) -> CatalogResult<()> {
    let (rec, limits, replacing) = (rec.clone(), *limits, replacing.cloned());
    cat.with(move |c| async move {
        let stmt = c
            .prepare_cached("SELECT attachd_reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)")
            .await
            .map_err(pg_error)?;
        let freed = replacing.as_ref().map_or(uuid::Uuid::nil(), |r| r.id.0);
        // The owner's credit only when the replaced record is the same owner's.
        let freed_owned = replacing.as_ref().filter(|r| r.owner == rec.owner).map_or(uuid::Uuid::nil(), |r| r.id.0);
        let owner = rec.owner.as_ref().map(|o| o.0.clone());
        let parents = rows::parent_keys(&rec);
        let remove = rows::remove_at(&rec);
        let (n, created, expires, record) =
            (size(rec.size_bytes), rows::ts(rec.created_at), rows::ts(rec.expires_at), codec::encode(&rec));
        let (quota, user_quota) = (size(limits.default_project_quota), size(limits.default_user_quota));
        let (max_count, max_bytes) = (size(limits.max_pending_count), size(limits.max_pending_bytes));
        for _ in 0..8 {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 15] = [
                &rec.id.0,
                &rec.project_id.0,
                &owner,
                &n,
                &created,
                &expires,
                &remove,
                &record,
                &parents,
                &freed,
                &freed_owned,
                &quota,
                &user_quota,
                &max_count,
                &max_bytes,
            ];
            match c.execute(&stmt, &params).await {
                Ok(_) => return Ok(()),
                Err(e) if is_retryable(&e) => continue,
                Err(e) if e.code().is_some_and(|c| c.code() == REFUSED) => {
                    let credit = credit_of(&c, &rec, replacing.as_ref()).await?;
                    if let Some(refused) = refusal(&c, &rec, &limits, credit).await? {
                        return Err(refused);
                    }
                }
                Err(e) => return Err(pg_error(e)),
            }
        }
        Err(CatalogError::Unavailable("reservation kept losing races; retry".into()))
    })
}

/// What the replaced record frees, as stored now: (project, owner) bytes.
async fn credit_of(
    c: &tokio_postgres::Client,
    rec: &Attachment,
    replacing: Option<&Attachment>,
) -> CatalogResult<Credit> {
    let Some(r) = replacing else { return Ok((0, 0)) };
    let row = c
        .query_opt(
            "SELECT size_bytes FROM attachments WHERE id = $1 AND project_id = $2 AND deleted_at IS NULL",
            &[&r.id.0, &rec.project_id.0],
        )
        .await
        .map_err(pg_error)?;
    let freed = row.map_or(0, |r| r.get::<_, i64>(0));
    Ok((freed, if r.owner == rec.owner { freed } else { 0 }))
}

/// The project's pending reservations: (count, declared bytes), from the partial index.
async fn pending_of<C: tokio_postgres::GenericClient>(c: &C, rec: &Attachment) -> CatalogResult<(u64, u64)> {
    let row = c
        .query_one(
            "SELECT count(*), coalesce(sum(size_bytes), 0)::bigint FROM attachments
             WHERE project_id = $1 AND uploaded_at IS NULL AND deleted_at IS NULL",
            &[&rec.project_id.0],
        )
        .await
        .map_err(pg_error)?;
    Ok((row.get::<_, i64>(0).max(0) as u64, row.get::<_, i64>(1).max(0) as u64))
}

/// Names the refusal from the counters as they are now; `None` when nothing refuses any more
/// (the state moved since): the caller tries again.
async fn refusal(
    c: &tokio_postgres::Client,
    rec: &Attachment,
    limits: &ReserveLimits,
    credit: Credit,
) -> CatalogResult<Option<CatalogError>> {
    let row = c
        .query_opt(
            "SELECT bytes, project_quota, user_quota, deleted FROM project_usage WHERE project_id = $1",
            &[&rec.project_id.0],
        )
        .await
        .map_err(pg_error)?;
    let Some(row) = row else {
        // No usage row: the project was never created (the control plane makes the row).
        return Ok(Some(CatalogError::ProjectGone));
    };
    if row.get::<_, bool>(3) {
        return Ok(Some(CatalogError::ProjectGone));
    }
    let n = rec.size_bytes;
    let project_quota = row.get::<_, Option<i64>>(1).map_or(limits.default_project_quota, |q| q.max(0) as u64);
    let user_quota = row.get::<_, Option<i64>>(2).map_or(limits.default_user_quota, |q| q.max(0) as u64);
    if let Some(owner) = &rec.owner {
        let used = c
            .query_opt(
                "SELECT bytes FROM user_usage WHERE project_id = $1 AND owner = $2",
                &[&rec.project_id.0, &owner.0],
            )
            .await
            .map_err(pg_error)?
            .map_or(0, |r| r.get::<_, i64>(0));
        let used = (used - credit.1).max(0) as u64;
        if used.saturating_add(n) > user_quota {
            return Ok(Some(CatalogError::UserQuota { quota: user_quota, used }));
        }
    }
    let used = (row.get::<_, i64>(0) - credit.0).max(0) as u64;
    if used.saturating_add(n) > project_quota {
        return Ok(Some(CatalogError::ProjectQuota { quota: project_quota, used }));
    }
    let (count, bytes) = pending_of(c, rec).await?;
    if count >= limits.max_pending_count {
        return Ok(Some(CatalogError::TooManyPending { what: "count" }));
    }
    if n > limits.max_pending_bytes {
        return Ok(Some(CatalogError::TooLarge { size: n, max: limits.max_pending_bytes }));
    }
    if bytes.saturating_add(n) > limits.max_pending_bytes {
        return Ok(Some(CatalogError::TooManyPending { what: "bytes" }));
    }
    Ok(None)
}
