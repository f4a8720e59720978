//! Listing: the caller's visible attachments, newest first, a page at a time.
//!
//! Without a parent filter, each visible project's timeline (`Catalog::list_project`) is
//! merged; with parents, the first one's timeline (`Catalog::list_parent`) is walked and rows
//! outside the caller's scope, or without every other parent, skipped. A page ends at an exact
//! row (creation time and id), so the next page, starting after it, never skips or repeats
//! rows. Pending rows are listed, soft-deleted rows never. How a front end spells its filters
//! and cursors is its own business.

use std::collections::HashSet;
use std::iter::Peekable;

use crate::clock::Timestamp;
use crate::engine::CatalogError;
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{After, Attachment, ParentRef, TimelineRow};

use super::auth::{Admitted, Op};
use super::{Principal, Result, Service};

/// A list request in domain terms.
#[derive(Debug, Clone)]
pub struct ListRequest {
    /// Only this project (still only if visible).
    pub project: Option<ProjectId>,
    /// Only attachments with every one of these parents; the first one's timeline is walked.
    pub parents: Vec<ParentRef>,
    /// Where the page starts.
    pub after: After,
    /// Most rows on the page (at least 1).
    pub limit: usize,
}

/// A page of records, newest first.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The records.
    pub records: Vec<Attachment>,
    /// The last row of the page when another page follows (the next starts after it).
    pub next: Option<TimelineRow>,
}

type RowIter<'a> = Box<dyn Iterator<Item = std::result::Result<TimelineRow, CatalogError>> + 'a>;

/// Merges newest-first timelines into one newest-first stream (ties: smaller id first).
struct Merge<'a> {
    heads: Vec<Peekable<RowIter<'a>>>,
}

impl Iterator for Merge<'_> {
    type Item = std::result::Result<TimelineRow, CatalogError>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<(usize, (Timestamp, std::cmp::Reverse<AttachmentId>))> = None;
        for (i, h) in self.heads.iter_mut().enumerate() {
            match h.peek() {
                Some(Err(_)) => return h.next(),
                Some(Ok(r)) => {
                    let key = (r.created_at, std::cmp::Reverse(r.id));
                    if best.is_none_or(|(_, b)| key > b) {
                        best = Some((i, key));
                    }
                }
                None => {}
            }
        }
        best.and_then(|(i, _)| self.heads[i].next())
    }
}

impl Service {
    /// Lists a page for a caller admitted to [`Op::List`].
    pub fn list(&self, who: Admitted, req: &ListRequest) -> Result<ListPage> {
        let principal = who.expect(Op::List)?;
        let limit = req.limit.max(1);
        let mut projects: Vec<ProjectId> = self.visible_projects(principal)?.into_iter().map(|p| p.id).collect();
        if let Some(p) = req.project {
            projects.retain(|x| *x == p);
        }
        if projects.is_empty() {
            return Ok(ListPage { records: vec![], next: None });
        }
        let allowed: HashSet<ProjectId> = projects.iter().copied().collect();
        let rows: RowIter<'_> = match req.parents.first() {
            Some(first) => {
                let allowed = allowed.clone();
                Box::new(self.catalog.list_parent(first, req.after).filter_map(move |r| match r {
                    Ok((row, p)) if allowed.contains(&p) => Some(Ok(row)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }))
            }
            None => {
                let heads = projects
                    .iter()
                    .map(|p| (Box::new(self.catalog.list_project(p, req.after)) as RowIter<'_>).peekable())
                    .collect();
                Box::new(Merge { heads })
            }
        };
        let mut out = Vec::with_capacity(limit);
        let mut last = None;
        for row in rows {
            let row = row?;
            let Some(rec) = self.catalog.record(row.id)? else {
                continue;
            };
            let matches = rec.deleted_at.is_none()
                && allowed.contains(&rec.project_id)
                && req.parents.iter().all(|p| rec.parent(p.kind) == Some(p))
                && match principal {
                    Principal::Key(k) => k.app_id.is_none_or(|a| Some(a) == rec.app_id),
                    Principal::User { .. } => true,
                };
            if !matches {
                continue;
            }
            if out.len() == limit {
                return Ok(ListPage { records: out, next: last });
            }
            out.push(rec);
            last = Some(row);
        }
        Ok(ListPage { records: out, next: None })
    }
}
