//! The one creation on PostgreSQL: a reservation counted into its project's and owner's usage
//! with conditional `UPDATE`s, so no number of replicas can overshoot a quota.
//!
//! In one transaction, in lock order: the record it replaces is read `FOR SHARE` (its bytes are
//! credited only if, as stored, it still counts); the project's usage row is moved by the
//! declared size *only if* the project is live and its quota, pending count and pending bytes
//! allow it (`UPDATE … WHERE … RETURNING`: the check and the count are one statement under the
//! row's lock, never a read-check-write); then the owner's row likewise; then the record is
//! inserted. A statement that matches no row means a refusal: the transaction is rolled back
//! and the refusal is named from the current counters, in the order the trait states (owner,
//! project, pending count, size, pending bytes). The quotas and the deletion flag the `UPDATE`
//! checks live on the same row, written by the control plane in its own transaction, so a
//! reserve sees a project's quota change or deletion entirely or not at all.

use super::PgCatalog;
use super::rows::{self, size};
use super::runner::{is_retryable, pg_error};
use crate::engine::{CatalogError, CatalogResult, ReserveLimits};
use crate::model::Attachment;

/// What one attempt came to.
enum Outcome {
    Done,
    Refused,
    Again,
}

/// Records `rec` as a pending reservation (see the module docs).
pub fn reserve(
    cat: &PgCatalog,
    rec: &Attachment,
    limits: &ReserveLimits,
    replacing: Option<&Attachment>,
) -> CatalogResult<()> {
    let (rec, limits, replacing) = (rec.clone(), *limits, replacing.map(|r| r.id));
    cat.with(move |mut c| async move {
        for _ in 0..8 {
            let tx = c.transaction().await.map_err(pg_error)?;
            let (outcome, credit) = attempt(&tx, &rec, &limits, replacing).await?;
            match outcome {
                Outcome::Done => match tx.commit().await {
                    Ok(()) => return Ok(()),
                    Err(e) if is_retryable(&e) => continue,
                    Err(e) => return Err(pg_error(e)),
                },
                Outcome::Again => continue,
                Outcome::Refused => {
                    drop(tx);
                    if let Some(e) = refusal(&c, &rec, &limits, credit).await? {
                        return Err(e);
                    }
                }
            }
        }
        Err(CatalogError::Unavailable("reservation kept losing races; retry".into()))
    })
}

/// Bytes the replaced record frees: (project, owner).
type Credit = (i64, i64);

async fn attempt(
    tx: &deadpool_postgres::Transaction<'_>,
    rec: &Attachment,
    limits: &ReserveLimits,
    replacing: Option<crate::ids::AttachmentId>,
) -> CatalogResult<(Outcome, Credit)> {
    let retryable = |e: tokio_postgres::Error| if is_retryable(&e) { Ok(None) } else { Err(pg_error(e)) };
    let mut credit = (0, 0);
    if let Some(id) = replacing {
        let row = tx
            .query_opt(
                &tx.prepare_cached("SELECT record FROM attachments WHERE id = $1 FOR SHARE").await.map_err(pg_error)?,
                &[&id.0],
            )
            .await
            .map_err(pg_error)?;
        if let Some(old) = row.map(|r| rows::decode(r.get::<_, &[u8]>(0))).transpose()? {
            if old.deleted_at.is_none() && old.project_id == rec.project_id {
                credit.0 = size(old.size_bytes);
                if old.owner == rec.owner {
                    credit.1 = size(old.size_bytes);
                }
            }
        }
    }
    let n = size(rec.size_bytes);
    let project = tx
        .query_opt(
            &tx.prepare_cached(
                "UPDATE project_usage SET bytes = bytes + $2, files = files + 1,
                 pending_count = pending_count + 1, pending_bytes = pending_bytes + $2
             WHERE project_id = $1 AND NOT deleted
               AND bytes - $3 + $2 <= coalesce(project_quota, $4)
               AND pending_count < $5 AND pending_bytes + $2 <= $6
             RETURNING coalesce(user_quota, $7)",
            )
            .await
            .map_err(pg_error)?,
            &[
                &rec.project_id.0,
                &n,
                &credit.0,
                &size(limits.default_project_quota),
                &size(limits.max_pending_count),
                &size(limits.max_pending_bytes),
                &size(limits.default_user_quota),
            ],
        )
        .await
        .map(Some)
        .or_else(retryable)?;
    let Some(project) = project else { return Ok((Outcome::Again, credit)) };
    let Some(project) = project else { return Ok((Outcome::Refused, credit)) };
    let user_quota: i64 = project.get(0);
    if let Some(owner) = &rec.owner {
        if n > user_quota {
            return Ok((Outcome::Refused, credit));
        }
        let counted = tx
            .query_opt(
                &tx.prepare_cached(
                    "INSERT INTO user_usage (project_id, owner, bytes, files) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (project_id, owner) DO UPDATE
                     SET bytes = user_usage.bytes + $3, files = user_usage.files + 1
                     WHERE user_usage.bytes - $4 + $3 <= $5
                 RETURNING 1",
                )
                .await
                .map_err(pg_error)?,
                &[&rec.project_id.0, &owner.0, &n, &credit.1, &user_quota],
            )
            .await
            .map(Some)
            .or_else(retryable)?;
        match counted {
            None => return Ok((Outcome::Again, credit)),
            Some(None) => return Ok((Outcome::Refused, credit)),
            Some(Some(_)) => {}
        }
    }
    rows::insert(tx, rec).await?;
    Ok((Outcome::Done, credit))
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
            "SELECT bytes, pending_count, pending_bytes, project_quota, user_quota, deleted FROM project_usage WHERE project_id = $1",
            &[&rec.project_id.0],
        )
        .await
        .map_err(pg_error)?;
    let Some(row) = row else {
        // No usage row: the project was never created (the control plane makes the row).
        return Ok(Some(CatalogError::ProjectGone));
    };
    if row.get::<_, bool>(5) {
        return Ok(Some(CatalogError::ProjectGone));
    }
    let n = rec.size_bytes;
    let project_quota = row.get::<_, Option<i64>>(3).map_or(limits.default_project_quota, |q| q.max(0) as u64);
    let user_quota = row.get::<_, Option<i64>>(4).map_or(limits.default_user_quota, |q| q.max(0) as u64);
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
    let (count, bytes) = (row.get::<_, i64>(1).max(0) as u64, row.get::<_, i64>(2).max(0) as u64);
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
