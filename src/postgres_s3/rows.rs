//! How a record maps onto its `attachments` row and `attachment_parents` rows, and the counter
//! changes a transition implies: the PostgreSQL counterpart of the local index's derived rows,
//! written once here and used by every write path.
//!
//! A record has: its row (always; the derived columns follow from the record); a parent row
//! per parent while not soft-deleted; a share of its project's and owner's usage (declared size
//! and one file) while not soft-deleted. (Pending totals are read from an index, not counted.)

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

pub fn remove_at(rec: &Attachment) -> Option<i64> {
    match rec.retention {
        Retention::Until(t) => Some(ts(t)),
        Retention::Kept => None,
    }
}

/// Inserts `rec`'s row and its parent rows, pipelined (both statements sent before either
/// answer is awaited).
pub async fn insert(tx: &Transaction<'_>, rec: &Attachment) -> CatalogResult<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO attachments (id, project_id, created_at, expires_at, uploaded_at, deleted_at,
                 scan_queued, remove_at, record, size_bytes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .await
        .map_err(pg_error)?;
    let (created, expires, uploaded, deleted) =
        (ts(rec.created_at), ts(rec.expires_at), rec.uploaded_at.map(ts), rec.deleted_at.map(ts));
    let (queued, remove, record, bytes) = (scan_queued(rec), remove_at(rec), codec::encode(rec), size(rec.size_bytes));
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] =
        [&rec.id.0, &rec.project_id.0, &created, &expires, &uploaded, &deleted, &queued, &remove, &record, &bytes];
    let (row, parents) = futures_util::join!(tx.execute(&stmt, &params), put_parents(tx, rec));
    row.map_err(pg_error)?;
    parents
}

/// Rewrites the row of `old` as `new` (same id), and its parent rows if they changed.
pub async fn replace(tx: &Transaction<'_>, old: &Attachment, new: &Attachment) -> CatalogResult<()> {
    tx.execute(
        &tx.prepare_cached(
            "UPDATE attachments SET expires_at = $2, uploaded_at = $3, deleted_at = $4, scan_queued = $5,
                remove_at = $6, record = $7, created_at = $8, size_bytes = $9 WHERE id = $1",
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
            &size(new.size_bytes),
        ],
    )
    .await
    .map_err(pg_error)?;
    if parent_keys(old) != parent_keys(new) {
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

/// The keys of `rec`'s rows in `attachment_parents` (none while soft-deleted).
pub fn parent_keys(rec: &Attachment) -> Vec<String> {
    if rec.deleted_at.is_some() {
        return Vec::new();
    }
    rec.parents.iter().map(parent_key).collect()
}

/// Inserts `rec`'s parent rows, in one statement.
async fn put_parents(tx: &Transaction<'_>, rec: &Attachment) -> CatalogResult<()> {
    let keys = parent_keys(rec);
    if keys.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO attachment_parents (parent, created_at, id, project_id)
             SELECT unnest($1::text[]), $2, $3, $4",
        )
        .await
        .map_err(pg_error)?;
    tx.execute(&stmt, &[&keys, &ts(rec.created_at), &rec.id.0, &rec.project_id.0]).await.map_err(pg_error)?;
    Ok(())
}

/// What a record adds to its project's counters: (bytes, files).
fn project_share(rec: &Attachment) -> [i64; 2] {
    let live = rec.deleted_at.is_none();
    [if live { size(rec.size_bytes) } else { 0 }, live as i64]
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
    let d: Vec<i64> = (0..2).map(|i| b[i] - a[i]).collect();
    if d.iter().any(|v| *v != 0) {
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO project_usage (project_id, bytes, files) VALUES ($1, $2, $3)
             ON CONFLICT (project_id) DO UPDATE SET bytes = project_usage.bytes + $2, files = project_usage.files + $3",
            )
            .await
            .map_err(pg_error)?,
            &[&any.project_id.0, &d[0], &d[1]],
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
    // Owner rows in a fixed (name) order, as every transaction that takes two of them must.
    let mut moves: Vec<(String, i64, i64)> = Vec::new();
    if let Some((o, b)) = was {
        moves.push((o, -b, -1));
    }
    if let Some((o, b)) = is {
        moves.push((o, b, 1));
    }
    moves.sort_by(|a, b| a.0.cmp(&b.0));
    for (owner, bytes, files) in moves {
        tx.execute(&tx.prepare_cached("INSERT INTO user_usage (project_id, owner, bytes, files) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, owner) DO UPDATE SET bytes = user_usage.bytes + $3, files = user_usage.files + $4").await.map_err(pg_error)?,
            &[&any.project_id.0, &owner, &bytes, &files],
        )
        .await
        .map_err(pg_error)?;
    }
    Ok(())
}

/// The record `id` as stored.
pub async fn read(c: &deadpool_postgres::Client, id: crate::ids::AttachmentId) -> CatalogResult<Option<Attachment>> {
    let stmt = c.prepare_cached("SELECT record FROM attachments WHERE id = $1").await.map_err(pg_error)?;
    let row = c.query_opt(&stmt, &[&id.0]).await.map_err(pg_error)?;
    row.map(|r| decode(r.get::<_, &[u8]>(0))).transpose()
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
