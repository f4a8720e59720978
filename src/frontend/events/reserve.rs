//! The seed-000 reserve body (`POST /v1/ingest/attachment`), parsed into the service's
//! [`ReserveRequest`].
//!
//! Validation follows the reference's order (owlmetry-notes §2.1) so the first failure is the
//! same one the reference reports, with the ill-formed cases it answered with 500 (non-UUID
//! `client_event_id`, over-long content types) answered with 400 instead. The body is parsed
//! only after the caller is authorized ([`crate::service::Service::authorize`]), as in the
//! reference.

use serde_json::Value;

use crate::ids::{ClientEventId, EndUserId, Sha256Digest};
use crate::service::ServiceError;
use crate::service::reserve::{ReserveRequest, is_denied};

/// Longest `content_type` stored (the reference's column width).
pub const MAX_CONTENT_TYPE_LEN: usize = 128;
/// Longest `original_filename`, in UTF-16 code units as the reference counts.
pub const MAX_FILENAME_LEN: usize = 255;
/// Longest `user_id`.
pub const MAX_USER_ID_LEN: usize = 255;

/// An optional `user_id` field: absent or null, or 1–[`MAX_USER_ID_LEN`] characters without
/// NUL (the reserve and link bodies share it).
pub fn end_user(v: Option<&Value>) -> Result<Option<EndUserId>, ServiceError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= MAX_USER_ID_LEN && !s.contains('\0') => {
            Ok(Some(EndUserId(s.clone())))
        }
        Some(_) => Err(invalid("user_id must be a non-empty string of at most 255 chars")),
    }
}

fn invalid(msg: &str) -> ServiceError {
    ServiceError::InvalidRequest(msg.to_string())
}

/// Validates a parsed JSON body in the reference's order. Pure (fuzzed as `reserve_json`).
pub fn parse(v: &Value) -> Result<ReserveRequest, ServiceError> {
    // A body that is not an object (or is absent) has none of the fields, as in the reference.
    let empty = serde_json::Map::new();
    let obj = match v {
        Value::Object(m) => m,
        _ => &empty,
    };
    let client_event_id = match obj.get("client_event_id") {
        Some(Value::String(s)) => s.parse::<ClientEventId>().map_err(|_| invalid("client_event_id must be a UUID"))?,
        _ => return Err(invalid("client_event_id is required")),
    };
    let user_id = end_user(obj.get("user_id"))?;
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
    Ok(ReserveRequest { client_event_id, user_id, original_filename, content_type, size_bytes, sha256, is_dev })
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
        parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn a_good_body_validates_and_lowercases_the_event_id() {
        let r = parse(&good()).unwrap();
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
        assert!(matches!(parse(&v), Err(ServiceError::InvalidRequest(_))));
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
            assert_eq!(parse(&v).unwrap().size_bytes, want, "{size}");
        }
    }

    #[test]
    fn control_characters_in_filenames_are_kept_as_sent() {
        let mut v = good();
        v["original_filename"] = json!("crash\r\nlog\u{0}\u{7f}.txt");
        assert_eq!(parse(&v).unwrap().original_filename, "crash\r\nlog\u{0}\u{7f}.txt");
    }

    #[test]
    fn filename_length_counts_utf16_units() {
        let mut v = good();
        v["original_filename"] = json!("📎".repeat(127)); // 254 units
        assert!(parse(&v).is_ok());
        v["original_filename"] = json!("📎".repeat(128)); // 256 units
        assert!(parse(&v).is_err());
    }

    proptest! {
        // Mirror of fuzz target `reserve_json`: any JSON-ish input is accepted or refused with a
        // client error, never a panic.
        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,300}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = parse(&v);
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
            if let Ok(r) = parse(&v) {
                prop_assert!(r.size_bytes > 0);
                prop_assert!(r.content_type.len() <= MAX_CONTENT_TYPE_LEN);
                prop_assert!(r.original_filename.encode_utf16().count() <= MAX_FILENAME_LEN);
            }
        }
    }
}
