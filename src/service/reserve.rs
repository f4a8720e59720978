//! `POST /v1/ingest/attachment`: validate, check quotas, record the reservation.
//!
//! Validation follows the reference's order (owlmetry-notes §2.1) so the first failure is the
//! same one the reference reports, with the ill-formed cases it answered with 500 (non-UUID
//! `client_event_id`, over-long content types) answered with 400 instead. Quotas and the caps
//! on pending (reserved, not yet uploaded) reservations are checked by the catalog in the same
//! atomic step that records the reservation ([`crate::engine::Catalog::reserve`]), so 200
//! concurrent reserves against a nearly full quota can never overshoot it.

use serde_json::Value;

use crate::clock::Timestamp;
use crate::engine::{CatalogError, ReserveLimits};
use crate::ids::{AttachmentId, ClientEventId, EndUserId, Sha256Digest};
use crate::model::control::Project;
use crate::model::{Attachment, Digests, Metadata, Retention, ScanState};

use super::auth::EVENTS_WRITE;
use super::events::event_parents;
use super::views::Reservation;
use super::{Principal, Result, Service, ServiceError};

/// Content types refused with 415 (the reference's list, compared after normalisation).
pub const CONTENT_TYPE_DENYLIST: [&str; 15] = [
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-msi",
    "application/x-executable",
    "application/x-mach-binary",
    "application/x-sharedlib",
    "application/vnd.microsoft.portable-executable",
    "application/x-dosexec",
    "application/x-shellscript",
    "application/x-sh",
    "text/x-shellscript",
    "application/x-python-code",
    "application/java-archive",
    "application/x-java-archive",
    "application/vnd.apple.installer+xml",
];

/// Longest `content_type` stored (the reference's column width).
pub const MAX_CONTENT_TYPE_LEN: usize = 128;
/// Longest `original_filename`, in UTF-16 code units as the reference counts.
pub const MAX_FILENAME_LEN: usize = 255;
/// Longest `user_id`.
pub const MAX_USER_ID_LEN: usize = 255;

/// A validated reserve request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveInput {
    /// The event this belongs to.
    pub client_event_id: ClientEventId,
    /// End user (enables the per-user quota).
    pub user_id: Option<EndUserId>,
    /// Display name.
    pub original_filename: String,
    /// Declared MIME type, verbatim.
    pub content_type: String,
    /// Declared size.
    pub size_bytes: u64,
    /// Declared SHA-256.
    pub sha256: Sha256Digest,
    /// Development build.
    pub is_dev: bool,
}

fn invalid(msg: &str) -> ServiceError {
    ServiceError::InvalidRequest(msg.to_string())
}

impl ReserveInput {
    /// Validates a parsed JSON body in the reference's order. Pure (fuzzed as `reserve_json`).
    pub fn from_json(v: &Value) -> Result<Self> {
        // A body that is not an object (or is absent) has none of the fields, as in the reference.
        let empty = serde_json::Map::new();
        let obj = match v {
            Value::Object(m) => m,
            _ => &empty,
        };
        let client_event_id = match obj.get("client_event_id") {
            Some(Value::String(s)) => {
                s.parse::<ClientEventId>().map_err(|_| invalid("client_event_id must be a UUID"))?
            }
            _ => return Err(invalid("client_event_id is required")),
        };
        let user_id = match obj.get("user_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_USER_ID_LEN && !s.contains('\0') => {
                Some(EndUserId(s.clone()))
            }
            Some(_) => {
                return Err(invalid("user_id must be a non-empty string of at most 255 chars"));
            }
        };
        let original_filename = match obj.get("original_filename") {
            Some(Value::String(s)) if s.encode_utf16().count() <= MAX_FILENAME_LEN => s.clone(),
            _ => {
                return Err(invalid("original_filename is required and must be at most 255 chars"));
            }
        };
        // Any name is kept as sent, control characters included (an SDK never retries a 4xx, so
        // refusing a name would lose the file); it is sanitised only where it is written into a
        // header (Content-Disposition), and JSON escapes it in listings.
        let content_type = match obj.get("content_type") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(invalid("content_type is required")),
        };
        if is_denied(&content_type) {
            return Err(ServiceError::DisallowedContentType(content_type));
        }
        if content_type.len() > MAX_CONTENT_TYPE_LEN
            || content_type.trim().is_empty()
            || content_type.chars().any(char::is_control)
        {
            return Err(invalid("content_type must be a non-empty MIME type of at most 128 chars"));
        }
        // Any positive integer, as in the reference (`1e20` is one). Sizes past u64 saturate:
        // quotas are at most 2^62, so the quota check refuses them with 413 before any counter
        // could overflow.
        let size_bytes = match obj.get("size_bytes") {
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0 && *f >= 1.0).map(|f| f as u64))
                .filter(|&n| n > 0),
            _ => None,
        }
        .ok_or_else(|| invalid("size_bytes must be a positive integer"))?;
        let sha256 = match obj.get("sha256") {
            Some(Value::String(s)) => Sha256Digest::parse_lower_hex(s),
            _ => None,
        }
        .ok_or_else(|| invalid("sha256 must be a 64-char lowercase hex string"))?;
        let is_dev = matches!(obj.get("is_dev"), Some(Value::Bool(true)));
        Ok(Self { client_event_id, user_id, original_filename, content_type, size_bytes, sha256, is_dev })
    }
}

/// Lowercase, cut at `;`, trim, then exact-match against the denylist.
pub fn is_denied(content_type: &str) -> bool {
    let base = crate::model::mime::essence(content_type);
    CONTENT_TYPE_DENYLIST.contains(&base.as_str())
}

impl Service {
    /// Effective (project, per-user) quotas of a project.
    pub fn effective_quotas(&self, p: &Project) -> (u64, u64) {
        (
            p.attachment_project_quota_bytes.unwrap_or(self.cfg.default_project_quota),
            p.attachment_user_quota_bytes.unwrap_or(self.cfg.default_user_quota),
        )
    }

    /// Reserves an attachment for a client key.
    pub fn reserve(&self, principal: &Principal, body: &Value) -> Result<Reservation> {
        principal.require(EVENTS_WRITE)?;
        self.rate_limit(principal)?;
        let (app_id, _) = principal.app_scope()?;
        let input = ReserveInput::from_json(body)?;
        let app = self
            .control
            .app(&*self.catalog, &app_id)?
            .filter(|a| a.deleted_at.is_none())
            .ok_or(ServiceError::AppGone)?;
        let now = Timestamp::now();
        // Held until the record is committed, so a concurrent link of this client event id
        // either is seen here or sees this record (see link.rs).
        let _link_lock = self.link_locks.lock(input.client_event_id.as_bytes());
        let link = self.catalog.event_link(&app.id, &input.client_event_id)?;
        let rec = Attachment {
            id: AttachmentId::random(),
            project_id: app.project_id,
            app_id: Some(app.id),
            parents: event_parents(
                Some(input.client_event_id),
                link.as_ref().map(|l| l.event_id),
                link.as_ref().and_then(|l| l.issue_id),
            ),
            // The reference falls back to the event's user when the SDK sent none.
            owner: input.user_id.or_else(|| link.as_ref().and_then(|l| l.user_id.clone())),
            uploader: None,
            meta: Metadata {
                original_filename: input.original_filename,
                content_type: input.content_type,
                ..Default::default()
            },
            size_bytes: input.size_bytes,
            digests: Digests { sha256: input.sha256, md5: None },
            scan: ScanState::NotScanned,
            retention: Retention::Kept,
            is_dev: input.is_dev,
            created_at: now,
            expires_at: now.plus(self.cfg.reservation_ttl),
            uploaded_at: None,
            deleted_at: None,
            location: None,
        };
        let limits = ReserveLimits {
            default_project_quota: self.cfg.default_project_quota,
            default_user_quota: self.cfg.default_user_quota,
            max_pending_count: self.cfg.max_pending_per_project,
            max_pending_bytes: self.cfg.max_pending_bytes_per_project,
        };
        let size = rec.size_bytes;
        self.catalog.reserve(&rec, &limits).map_err(|e| match e {
            CatalogError::UserQuota { quota, used } => {
                crate::metrics::quota_rejected("user");
                ServiceError::UserQuotaExhausted { quota, used, size }
            }
            CatalogError::ProjectQuota { quota, used } => {
                crate::metrics::quota_rejected("project");
                ServiceError::ProjectQuotaExhausted { quota, used, size }
            }
            other => other.into(),
        })?;
        Ok(Reservation {
            attachment_id: rec.id.to_string(),
            upload_url: format!("{}/v1/ingest/attachment/{}", self.cfg.public_url, rec.id),
            expires_at: rec.expires_at.to_iso(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "client_event_id": "550E8400-E29B-41D4-A716-446655440000",
            "user_id": "user_42",
            "original_filename": "input.heic",
            "content_type": "image/heic",
            "size_bytes": 1048576,
            "sha256": "ab".repeat(32),
            "is_dev": false
        })
    }

    fn err_of(v: Value) -> String {
        ReserveInput::from_json(&v).unwrap_err().to_string()
    }

    #[test]
    fn a_good_body_validates_and_lowercases_the_event_id() {
        let r = ReserveInput::from_json(&good()).unwrap();
        assert_eq!(r.client_event_id.to_string(), "550e8400-e29b-41d4-a716-446655440000");
        assert_eq!(r.size_bytes, 1048576);
    }

    #[test]
    fn validation_order_matches_the_reference() {
        // Everything wrong: the client_event_id error wins.
        assert_eq!(err_of(json!({})), "client_event_id is required");
        let mut v = good();
        v["user_id"] = json!("");
        v["original_filename"] = json!(5);
        assert_eq!(err_of(v), "user_id must be a non-empty string of at most 255 chars");
        let mut v = good();
        v["original_filename"] = json!("x".repeat(256));
        v["content_type"] = json!(null);
        assert_eq!(err_of(v), "original_filename is required and must be at most 255 chars");
        let mut v = good();
        v["content_type"] = json!("Application/X-Sh; charset=utf-8");
        v["size_bytes"] = json!(0);
        assert_eq!(err_of(v), "Content-Type \"Application/X-Sh; charset=utf-8\" is not allowed for attachments");
        let mut v = good();
        v["size_bytes"] = json!(1.5);
        assert_eq!(err_of(v), "size_bytes must be a positive integer");
        let mut v = good();
        v["size_bytes"] = json!(-5);
        assert_eq!(err_of(v), "size_bytes must be a positive integer");
        let mut v = good();
        v["sha256"] = json!("AB".repeat(32));
        assert_eq!(err_of(v), "sha256 must be a 64-char lowercase hex string");
    }

    #[test]
    fn what_the_reference_answered_with_500_is_a_400_here() {
        let mut v = good();
        v["client_event_id"] = json!("not-a-uuid");
        assert_eq!(err_of(v), "client_event_id must be a UUID");
        let mut v = good();
        v["content_type"] = json!(format!("image/{}", "x".repeat(200)));
        assert!(matches!(ReserveInput::from_json(&v), Err(ServiceError::InvalidRequest(_))));
    }

    #[test]
    fn huge_sizes_parse_saturated_for_the_quota_check_to_refuse() {
        for (size, want) in [
            (json!(u64::MAX), u64::MAX),
            (json!(9007199254740991u64), 9007199254740991),
            (json!(1e20), u64::MAX),
            (json!(1e300), u64::MAX),
            (json!(2.0), 2),
        ] {
            let mut v = good();
            v["size_bytes"] = size.clone();
            assert_eq!(ReserveInput::from_json(&v).unwrap().size_bytes, want, "{size}");
        }
    }

    #[test]
    fn control_characters_in_filenames_are_kept_as_sent() {
        let mut v = good();
        v["original_filename"] = json!("crash\r\nlog\u{0}\u{7f}.txt");
        assert_eq!(ReserveInput::from_json(&v).unwrap().original_filename, "crash\r\nlog\u{0}\u{7f}.txt");
    }

    #[test]
    fn filename_length_counts_utf16_units() {
        let mut v = good();
        v["original_filename"] = json!("📎".repeat(127)); // 254 units
        assert!(ReserveInput::from_json(&v).is_ok());
        v["original_filename"] = json!("📎".repeat(128)); // 256 units
        assert!(ReserveInput::from_json(&v).is_err());
    }

    proptest! {
        // Mirror of fuzz target `reserve_json`: any JSON-ish input is accepted or refused with a
        // client error, never a panic.
        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,300}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = ReserveInput::from_json(&v);
            }
        }

        #[test]
        fn arbitrary_field_values_never_panic(
            ce in proptest::option::of("\\PC{0,40}"),
            size in any::<i64>(),
            name in "\\PC{0,300}",
            ct in "\\PC{0,200}",
        ) {
            let mut v = good();
            v["client_event_id"] = json!(ce);
            v["size_bytes"] = json!(size);
            v["original_filename"] = json!(name);
            v["content_type"] = json!(ct);
            if let Ok(r) = ReserveInput::from_json(&v) {
                prop_assert!(r.size_bytes > 0);
                prop_assert!(r.content_type.len() <= MAX_CONTENT_TYPE_LEN);
            }
        }
    }
}
