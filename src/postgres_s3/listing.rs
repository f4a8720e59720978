//! Listings on PostgreSQL: newest first by keyset (`created_at < t OR (created_at = t AND
//! id > id0)`, ordered `created_at DESC, id`), on the partial indexes of visible records and of
//! parent rows, fetched a page at a time as the caller's iterator advances; the cursor is the
//! same `(created_at, id)` pair as the local backend's.

use super::PgCatalog;
use super::rows::{self, from_ts, ts};
use super::runner::pg_error;
use crate::engine::CatalogResult;
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{After, ParentRef, TimelineRow};

/// Rows fetched per round trip by the listing iterators.
const PAGE: i64 = 256;

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

impl PgCatalog {
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

    /// A project's visible records, newest first, from `after`.
    pub(super) fn project_rows<'a>(
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

    /// The visible records under `parent`, newest first, from `after`, with their project.
    pub(super) fn parent_rows<'a>(
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
}
