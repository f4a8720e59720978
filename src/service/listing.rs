//! `GET /v1/attachments`: the caller's visible attachments, newest first, cursor-paginated.
//!
//! Without a filter, each visible project's timeline (`index::listing`) is merged; with
//! `event_client_id`, `event_id` or `issue_id`, that filter's timeline (`index::filters`) is
//! walked and rows outside the caller's scope skipped. The cursor names the last row exactly
//! (creation time and id), so pages never skip or repeat rows; the reference's ISO timestamp
//! cursor is also accepted. Pending rows are listed with `uploaded_at: null`, soft-deleted rows
//! never.

use std::collections::HashSet;
use std::iter::Peekable;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Timestamp;
use crate::engine::CatalogError;
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{After, ParentKind, ParentRef, TimelineRow};

use super::auth::EVENTS_READ;
use super::events::EventRefs;
use super::views::{AttachmentPage, AttachmentSummary};
use super::{Principal, Result, Service, ServiceError};

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub const MAX_LIMIT: usize = 200;

/// The query string, as received.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `project_id`.
    pub project_id: Option<String>,
    /// `event_id`.
    pub event_id: Option<String>,
    /// `event_client_id`.
    pub event_client_id: Option<String>,
    /// `issue_id`.
    pub issue_id: Option<String>,
    /// `cursor`.
    pub cursor: Option<String>,
    /// `limit`.
    pub limit: Option<String>,
}

/// Encodes our cursor: base64url(created_at µs BE ‖ id).
pub fn encode_cursor(row: &TimelineRow) -> String {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&row.created_at.0.to_be_bytes());
    b[8..].copy_from_slice(row.id.as_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

/// Decodes a cursor: ours, or an ISO-8601 timestamp (the reference's). Pure; fuzzed.
pub fn decode_cursor(s: &str) -> Option<After> {
    if s.contains(':') {
        return Timestamp::parse_iso(s).map(After::OlderThan);
    }
    let b = URL_SAFE_NO_PAD.decode(s).ok()?;
    if b.len() != 24 {
        return None;
    }
    let t = Timestamp(u64::from_be_bytes(b[..8].try_into().ok()?));
    Some(After::Row(t, AttachmentId::from_slice(&b[8..])?))
}

/// The reference's `limit` rule: `Number(raw)`, falsy → 50, clamped to 1..=200.
pub fn parse_limit(raw: Option<&str>) -> usize {
    let n = raw.and_then(|s| s.trim().parse::<f64>().ok()).filter(|n| !n.is_nan() && *n != 0.0);
    match n {
        None => DEFAULT_LIMIT,
        Some(n) => n.floor().clamp(1.0, MAX_LIMIT as f64) as usize,
    }
}

fn uuid_param(name: &str, v: &Option<String>) -> Result<Option<uuid::Uuid>> {
    match v.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<AttachmentId>()
            .map(|x| Some(x.0))
            .map_err(|_| ServiceError::BadParameter(format!("{name} must be a UUID"))),
    }
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
    /// Lists a page.
    pub fn list(&self, principal: &Principal, q: &ListQuery) -> Result<AttachmentPage> {
        principal.require(EVENTS_READ)?;
        self.rate_limit(principal)?;
        let project_filter = uuid_param("project_id", &q.project_id)?.map(ProjectId);
        let event_id = uuid_param("event_id", &q.event_id)?;
        let event_client_id = uuid_param("event_client_id", &q.event_client_id)?;
        let issue_id = uuid_param("issue_id", &q.issue_id)?;
        let after = match q.cursor.as_deref().filter(|s| !s.is_empty()) {
            None => After::Start,
            Some(c) => {
                decode_cursor(c).ok_or_else(|| ServiceError::BadParameter("cursor is not a valid cursor".into()))?
            }
        };
        let limit = parse_limit(q.limit.as_deref());
        let mut projects: Vec<ProjectId> = self.visible_projects(principal)?.into_iter().map(|p| p.id).collect();
        if let Some(p) = project_filter {
            projects.retain(|x| *x == p);
        }
        let empty = AttachmentPage { attachments: vec![], cursor: None, has_more: false };
        if projects.is_empty() {
            return Ok(empty);
        }
        let allowed: HashSet<ProjectId> = projects.iter().copied().collect();
        let rows: RowIter<'_> = match (event_client_id, event_id, issue_id) {
            (Some(u), _, _) | (None, Some(u), _) | (None, None, Some(u)) => {
                let kind = if event_client_id.is_some() {
                    ParentKind::ClientEvent
                } else if event_id.is_some() {
                    ParentKind::Event
                } else {
                    ParentKind::Issue
                };
                let allowed = allowed.clone();
                Box::new(self.catalog.list_parent(&ParentRef::uuid(kind, u), after).filter_map(move |r| match r {
                    Ok((row, p)) if allowed.contains(&p) => Some(Ok(row)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }))
            }
            (None, None, None) => {
                let heads = projects
                    .iter()
                    .map(|p| (Box::new(self.catalog.list_project(p, after)) as RowIter<'_>).peekable())
                    .collect();
                Box::new(Merge { heads })
            }
        };
        let mut out = Vec::with_capacity(limit);
        let mut last = None;
        let mut has_more = false;
        for row in rows {
            let row = row?;
            let Some(rec) = self.catalog.record(row.id)? else {
                continue;
            };
            let matches = rec.deleted_at.is_none()
                && allowed.contains(&rec.project_id)
                && event_id.is_none_or(|e| rec.event_id().map(|x| x.0) == Some(e))
                && issue_id.is_none_or(|i| rec.issue_id().map(|x| x.0) == Some(i))
                && event_client_id.is_none_or(|c| rec.client_event_id().map(|x| x.0) == Some(c))
                && match principal {
                    Principal::Key(k) => k.app_id.is_none_or(|a| Some(a) == rec.app_id),
                    Principal::User { .. } => true,
                };
            if !matches {
                continue;
            }
            if out.len() == limit {
                has_more = true;
                break;
            }
            out.push(AttachmentSummary::from(&rec));
            last = Some(row);
        }
        Ok(AttachmentPage {
            attachments: out,
            cursor: if has_more { last.as_ref().map(encode_cursor) } else { None },
            has_more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn limit_follows_the_reference() {
        assert_eq!(parse_limit(None), 50);
        assert_eq!(parse_limit(Some("abc")), 50);
        assert_eq!(parse_limit(Some("0")), 50);
        assert_eq!(parse_limit(Some("-5")), 1);
        assert_eq!(parse_limit(Some("1000")), 200);
        assert_eq!(parse_limit(Some("7.9")), 7);
    }

    #[test]
    fn cursors_round_trip_and_iso_is_accepted() {
        let row = TimelineRow { created_at: Timestamp(123_456), id: AttachmentId::random() };
        assert_eq!(decode_cursor(&encode_cursor(&row)), Some(After::Row(row.created_at, row.id)));
        assert_eq!(decode_cursor("2024-01-15T10:30:00.000Z"), Some(After::OlderThan(Timestamp(1_705_314_600_000_000))));
        assert_eq!(decode_cursor("garbage"), None);
        assert_eq!(decode_cursor("2024-13-45T99:00:00Z"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_cursors_never_panic(s in "\\PC{0,80}") {
            let _ = decode_cursor(&s);
            let _ = parse_limit(Some(&s));
        }
    }
}
