//! How a record maps onto its `attachments` row and `attachment_parents` rows, and the counter
//! changes a transition implies: the PostgreSQL counterpart of the local index's derived rows,
//! written once here and used by every write path.
//!
//! A record has: its row (always; the derived columns follow from the record); a parent row
//! per parent while not soft-deleted; a share of its project's and owner's usage (declared size
//! and one file) while not soft-deleted; a share of its project's pending count and bytes while
//! pending.

use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::runner::pg_error;
use crate::engine::{CatalogError, CatalogResult};
use crate::model::{Attachment, ParentId, ParentRef, Retention, codec};

/// The text a parent is keyed by in `attachment_parents`: `<kind tag>:u:<uuid>` or
/// `<kind tag>:t:<text>`.
pub fn parent_key(p: &ParentRef) -> String {
    match &p.id {
        ParentId::Uuid(u) => format!("{}:u:{u}", p.kind.tag()),
        ParentId::Text(t) => format!("{}:t:{t}", p.kind.tag()),
    }
}

/// A timestamp as stored (`bigint` µs; attachd's times are far below `i64::MAX`).
pub fn ts(t: crate::clock::Timestamp) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

/// A stored timestamp.
pub fn from_ts(v: i64) -> crate::clock::Timestamp {
    crate::clock::Timestamp(u64::try_from(v).unwrap_or(0))
}

/// A size as stored.
pub fn size(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Decodes a `record` column.
pub fn decode(b: &[u8]) -> CatalogResult<Attachment> {
    codec::decode(b).map_err(|e| CatalogError::Corrupt(format!("attachments.record: {e}")))
}

fn scan_queued(rec: &Attachment) -> bool {
    rec.deleted_at.is_none() && rec.uploaded_at.is_some() && rec.scan == crate::model::ScanState::Pending
}

fn remove_at(rec: &Attachment) -> Option<i64> {
    match rec.retention {
        Retention::Until(t) => Some(ts(t)),
        Retention::Kept => None,
    }
}

/// Inserts `rec`'s row and its parent rows.
pub async fn insert(tx: &Transaction<'_>, rec: &Attachment) -> CatalogResult<()> {
    tx.execute(&tx.prepare_cached("INSERT INTO attachments (id, project_id, created_at, expires_at, uploaded_at, deleted_at, scan_queued, remove_at, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)").await.map_err(pg_error)?,
        &[
            &rec.id.0,
            &rec.project_id.0,
            &ts(rec.created_at),
            &ts(rec.expires_at),
            &rec.uploaded_at.map(ts),
            &rec.deleted_at.map(ts),
            &scan_queued(rec),
            &remove_at(rec),
            &codec::encode(rec),
        ],
    )
    .await
    .map_err(pg_error)?;
    put_parents(tx, rec).await
}

/// Rewrites the row of `old` as `new` (same id), and its parent rows if they changed.
pub async fn replace(tx: &Transaction<'_>, old: &Attachment, new: &Attachment) -> CatalogResult<()> {
    tx.execute(
        &tx.prepare_cached(
            "UPDATE attachments SET expires_at = $2, uploaded_at = $3, deleted_at = $4, scan_queued = $5,
                remove_at = $6, record = $7, created_at = $8 WHERE id = $1",
        )
        .await
        .map_err(pg_error)?,
        &[
            &new.id.0,
            &ts(new.expires_at),
            &new.uploaded_at.map(ts),
            &new.deleted_at.map(ts),
            &scan_queued(new),
            &remove_at(new),
            &codec::encode(new),
            &ts(new.created_at),
        ],
    )
    .await
    .map_err(pg_error)?;
    if parent_rows(old) != parent_rows(new) {
        tx.execute(
            &tx.prepare_cached("DELETE FROM attachment_parents WHERE id = $1").await.map_err(pg_error)?,
            &[&old.id.0],
        )
        .await
        .map_err(pg_error)?;
        put_parents(tx, new).await?;
    }
    Ok(())
}

/// Removes `rec`'s row (its parent rows go with it).
pub async fn remove(tx: &Transaction<'_>, rec: &Attachment) -> CatalogResult<()> {
    tx.execute(&tx.prepare_cached("DELETE FROM attachments WHERE id = $1").await.map_err(pg_error)?, &[&rec.id.0])
        .await
        .map_err(pg_error)?;
    Ok(())
}

fn parent_rows(rec: &Attachment) -> Vec<String> {
    if rec.deleted_at.is_some() {
        return Vec::new();
    }
    rec.parents.iter().map(parent_key).collect()
}

async fn put_parents(tx: &Transaction<'_>, rec: &Attachment) -> CatalogResult<()> {
    for key in parent_rows(rec) {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO attachment_parents (parent, created_at, id, project_id) VALUES ($1, $2, $3, $4)",
            )
            .await
            .map_err(pg_error)?,
            &[&key, &ts(rec.created_at), &rec.id.0, &rec.project_id.0],
        )
        .await
        .map_err(pg_error)?;
    }
    Ok(())
}

/// What a record adds to its project's counters: (bytes, files, pending count, pending bytes).
fn project_share(rec: &Attachment) -> [i64; 4] {
    let live = rec.deleted_at.is_none();
    let pending = rec.is_pending();
    let n = size(rec.size_bytes);
    [if live { n } else { 0 }, live as i64, pending as i64, if pending { n } else { 0 }]
}

/// Moves the counters by the difference between what `old` and `new` imply (`None`: no
/// record). Rows are locked project first, then owner, as a reserve locks them.
pub async fn move_counters(
    tx: &Transaction<'_>,
    old: Option<&Attachment>,
    new: Option<&Attachment>,
) -> CatalogResult<()> {
    let any = old.or(new).expect("a transition has a record");
    let share = |r: Option<&Attachment>| r.map(project_share).unwrap_or_default();
    let (a, b) = (share(old), share(new));
    let d: Vec<i64> = (0..4).map(|i| b[i] - a[i]).collect();
    if d.iter().any(|v| *v != 0) {
        tx.execute(&tx.prepare_cached("INSERT INTO project_usage (project_id, bytes, files, pending_count, pending_bytes) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (project_id) DO UPDATE SET bytes = project_usage.bytes + $2, files = project_usage.files + $3,
                 pending_count = project_usage.pending_count + $4, pending_bytes = project_usage.pending_bytes + $5").await.map_err(pg_error)?,
            &[&any.project_id.0, &d[0], &d[1], &d[2], &d[3]],
        )
        .await
        .map_err(pg_error)?;
    }
    let owned = |r: Option<&Attachment>| -> Option<(String, i64)> {
        let r = r?;
        let owner = r.owner.as_ref()?;
        r.deleted_at.is_none().then(|| (owner.0.clone(), size(r.size_bytes)))
    };
    let (was, is) = (owned(old), owned(new));
    if was == is {
        return Ok(());
    }
    for (owner, sign) in [(was, -1i64), (is, 1)] {
        let Some((owner, bytes)) = owner else { continue };
        tx.execute(&tx.prepare_cached("INSERT INTO user_usage (project_id, owner, bytes, files) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, owner) DO UPDATE SET bytes = user_usage.bytes + $3, files = user_usage.files + $4").await.map_err(pg_error)?,
            &[&any.project_id.0, &owner, &(sign * bytes), &sign],
        )
        .await
        .map_err(pg_error)?;
    }
    Ok(())
}

/// The record `id` as stored, locked for the rest of the transaction.
pub async fn lock_record(tx: &Transaction<'_>, id: Uuid) -> CatalogResult<Option<Attachment>> {
    let row = tx
        .query_opt(
            &tx.prepare_cached("SELECT record FROM attachments WHERE id = $1 FOR UPDATE").await.map_err(pg_error)?,
            &[&id],
        )
        .await
        .map_err(pg_error)?;
    row.map(|r| decode(r.get::<_, &[u8]>(0))).transpose()
}
