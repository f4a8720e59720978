//! The seed-000 list query (`GET /v1/attachments?project_id=&event_id=&event_client_id=&
//! issue_id=&cursor=&limit=`), parsed into the service's [`ListRequest`], and its cursors.
//!
//! Parameters are checked in the reference's order, after the caller is admitted. The cursor
//! names the last row exactly (base64url of creation time and id), so pages never skip or
//! repeat rows; the reference's ISO timestamp cursor is also accepted. `limit` follows the
//! reference's rule. Pure; fuzzed as `list_cursor`.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{After, ParentKind, ParentRef, TimelineRow};
use crate::service::ServiceError;
use crate::service::listing::ListRequest;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub const MAX_LIMIT: usize = 200;

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

/// The list request of a query string: `project_id`, `event_id`, `event_client_id`,
/// `issue_id` (UUIDs; empty is absent), `cursor`, `limit`. The parents are walked by the most
/// specific filter given: client event, then event, then issue.
pub fn parse_query(q: &HashMap<String, String>) -> Result<ListRequest, ServiceError> {
    let project = uuid_param("project_id", q.get("project_id"))?.map(ProjectId);
    let event = uuid_param("event_id", q.get("event_id"))?;
    let client_event = uuid_param("event_client_id", q.get("event_client_id"))?;
    let issue = uuid_param("issue_id", q.get("issue_id"))?;
    let after = match q.get("cursor").map(String::as_str).filter(|s| !s.is_empty()) {
        None => After::Start,
        Some(c) => decode_cursor(c).ok_or_else(|| ServiceError::BadParameter("cursor is not a valid cursor".into()))?,
    };
    let parents = [(ParentKind::ClientEvent, client_event), (ParentKind::Event, event), (ParentKind::Issue, issue)]
        .into_iter()
        .filter_map(|(kind, id)| id.map(|u| ParentRef::uuid(kind, u)))
        .collect();
    let limit = parse_limit(q.get("limit").map(String::as_str));
    Ok(ListRequest { project, parents, after, limit })
}

fn uuid_param(name: &str, v: Option<&String>) -> Result<Option<uuid::Uuid>, ServiceError> {
    match v.map(String::as_str).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<AttachmentId>()
            .map(|x| Some(x.0))
            .map_err(|_| ServiceError::BadParameter(format!("{name} must be a UUID"))),
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
    fn filters_are_checked_in_order_and_walked_most_specific_first() {
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let id = "550e8400-e29b-41d4-a716-446655440000";
        let err = parse_query(&q(&[("event_id", "x"), ("project_id", "y")])).unwrap_err();
        assert_eq!(err.to_string(), "project_id must be a UUID");
        let r = parse_query(&q(&[("issue_id", id), ("event_client_id", id), ("project_id", "")])).unwrap();
        assert_eq!(r.project, None);
        assert_eq!(r.parents.iter().map(|p| p.kind).collect::<Vec<_>>(), [ParentKind::ClientEvent, ParentKind::Issue]);
        assert_eq!((r.after, r.limit), (After::Start, DEFAULT_LIMIT));
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
        // Mirror of fuzz target `list_cursor`.
        #[test]
        fn arbitrary_cursors_never_panic(s in "\\PC{0,80}") {
            let _ = decode_cursor(&s);
            prop_assert!((1..=MAX_LIMIT).contains(&parse_limit(Some(&s))));
        }
    }
}
