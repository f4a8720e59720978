//! The one table from service errors to HTTP: status, stable `code`, message and extra
//! headers, for every API. docs/ERRORS.md mirrors this file row for row. Each API renders the
//! body in its own shape from the same row ([`ErrorReply::code`] and [`ErrorReply::message`]);
//! the seed-000 API and the admin API answer with [`ErrorReply::body`], built here.
//!
//! The seed-000 API's two body shapes, both the reference's: plain errors are `{"error": <message>, "code": <code>}`
//! (the reference's `{"error"}` plus a stable code); attachment rejections are
//! `{"code": <code>, "message": <message>, …quota fields}`. 5xx bodies never carry internals;
//! those are logged here, where the error is handled.

use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};

use crate::http::{Reply, json as json_reply};
use crate::service::ServiceError as E;

/// The HTTP form of an error.
pub struct ErrorReply {
    /// Status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// What is wrong, for people (never internals).
    pub message: String,
    /// The seed-000 JSON body.
    pub body: Value,
    /// Extra headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

enum Shape {
    Plain,
    Rejection,
}

/// The response for an error, with the seed-000 body.
pub fn error_response(e: &E) -> Reply {
    let reply = reply(e);
    let body = reply.body.clone();
    reply.respond(&body)
}

impl ErrorReply {
    /// The response with `body` (an API's own shape of this row) and the row's headers.
    pub fn respond(self, body: &Value) -> Reply {
        let mut r = json_reply(self.status, body);
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v);
        }
        r
    }
}

/// The response for an error in the `{<field>: <message>, "code": <code>}` shape an API uses
/// (`"error"` for seeds 002 and 003, `"detail"` for seed 001).
pub fn response_in(e: &E, field: &str) -> Reply {
    let r = reply(e);
    let body = json!({ field: r.message, "code": r.code });
    r.respond(&body)
}

/// Maps an error to its reply.
pub fn reply(e: &E) -> ErrorReply {
    use Shape::*;
    use StatusCode as S;
    let (status, code, shape) = match e {
        E::MissingAuth
        | E::InvalidAuthFormat
        | E::InvalidApiKey
        | E::ApiKeyExpired
        | E::InvalidJwt
        | E::InvalidAdminToken => (S::UNAUTHORIZED, "unauthorized", Plain),
        E::MissingDownloadToken | E::InvalidDownloadToken => (S::UNAUTHORIZED, "invalid_download_token", Plain),
        E::MissingPermission(_) | E::Forbidden(_) | E::WrongApp => (S::FORBIDDEN, "forbidden", Plain),
        E::KeyNotAppScoped | E::AppGone | E::ProjectGone => (S::BAD_REQUEST, "invalid_key_scope", Plain),
        E::InvalidRequest(_) => (S::BAD_REQUEST, "invalid_request", Rejection),
        E::BadParameter(_) => (S::BAD_REQUEST, "bad_parameter", Plain),
        E::MissingParameter(_) => (S::UNPROCESSABLE_ENTITY, "missing_parameter", Plain),
        E::BadJson(_) => (S::BAD_REQUEST, "invalid_json", Plain),
        E::BodyTooLarge(_) => (S::PAYLOAD_TOO_LARGE, "body_too_large", Plain),
        E::DisallowedContentType(_) => (S::UNSUPPORTED_MEDIA_TYPE, "disallowed_content_type", Rejection),
        E::NotOctetStream { parsed: true } => (S::BAD_REQUEST, "unsupported_media_type", Plain),
        E::NotOctetStream { parsed: false } => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", Plain),
        E::NotJson => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", Plain),
        E::UserQuotaExhausted { .. } => (S::PAYLOAD_TOO_LARGE, "user_quota_exhausted", Rejection),
        E::ProjectQuotaExhausted { .. } => (S::PAYLOAD_TOO_LARGE, "quota_exhausted", Rejection),
        E::AttachmentTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "attachment_too_large", Rejection),
        E::PayloadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, "payload_too_large", Plain),
        E::AttachmentNotFound | E::ProjectNotFound | E::EntityNotFound(_) => (S::NOT_FOUND, "not_found", Plain),
        E::AttachmentDeleted => (S::GONE, "attachment_deleted", Plain),
        E::ReservationExpired => (S::GONE, "reservation_expired", Rejection),
        E::AlreadyUploaded => (S::CONFLICT, "already_uploaded", Rejection),
        E::UploadInProgress => (S::CONFLICT, "upload_in_progress", Rejection),
        E::Conflict(_) => (S::CONFLICT, "conflict", Plain),
        E::ScanPending => (S::CONFLICT, "scan_pending", Plain),
        E::Infected(_) => (S::CONFLICT, "infected", Plain),
        E::ScanFailed(_) => (S::CONFLICT, "scan_failed", Plain),
        E::InvalidUploadToken => (S::FORBIDDEN, "invalid_upload_token", Plain),
        E::SizeExceeded => (S::PAYLOAD_TOO_LARGE, "size_mismatch", Rejection),
        E::SizeShort { .. } => (S::BAD_REQUEST, "size_mismatch", Rejection),
        E::HashMismatch => (S::BAD_REQUEST, "hash_mismatch", Rejection),
        E::UploadAborted => (S::BAD_REQUEST, "upload_aborted", Plain),
        E::UploadTimedOut => (S::REQUEST_TIMEOUT, "upload_timeout", Plain),
        E::RangeNotSatisfiable { .. } => (S::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", Plain),
        E::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "rate_limited", Plain),
        E::TooManyPending { .. } => (S::TOO_MANY_REQUESTS, "too_many_pending_uploads", Rejection),
        E::NoSpace => (S::INSUFFICIENT_STORAGE, "insufficient_storage", Plain),
        E::Unavailable => (S::SERVICE_UNAVAILABLE, "unavailable", Plain),
        E::StorageUnavailable => (S::SERVICE_UNAVAILABLE, "storage_unavailable", Plain),
        E::Busy(_) => (S::SERVICE_UNAVAILABLE, "server_busy", Plain),
        E::ScannerUnreachable => (S::SERVICE_UNAVAILABLE, "scanner_unreachable", Plain),
        E::Corrupt(_) => (S::INTERNAL_SERVER_ERROR, "stored_data_corrupt", Plain),
        E::UploadFailed(_) => (S::INTERNAL_SERVER_ERROR, "upload_failed", Plain),
        E::ReadFailed(_) => (S::INTERNAL_SERVER_ERROR, "read_failed", Plain),
        E::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal_error", Plain),
    };
    let message = match e {
        E::Internal(_) => "Internal error".to_string(),
        other => other.to_string(),
    };
    // Load shedding is expected under a flood and counted in metrics; logging each would flood
    // the log too.
    if status.is_server_error() && !matches!(e, E::Busy(_)) {
        let detail = match e {
            E::UploadFailed(d) | E::ReadFailed(d) | E::Internal(d) | E::Corrupt(d) => d.as_str(),
            _ => "",
        };
        tracing::error!(code, error = %e, detail, "request failed");
    }
    let mut body = match shape {
        Plain => json!({ "error": message, "code": code }),
        Rejection => json!({ "code": code, "message": message }),
    };
    let message = message.clone();
    match e {
        E::UserQuotaExhausted { quota, used, .. } => {
            body["user_quota_bytes"] = json!(quota);
            body["user_used_bytes"] = json!(used);
        }
        E::ProjectQuotaExhausted { quota, used, .. } => {
            body["quota_bytes"] = json!(quota);
            body["used_bytes"] = json!(used);
        }
        _ => {}
    }
    let mut headers = Vec::new();
    match e {
        E::RateLimited { retry_after_secs } => {
            headers.push((RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
        }
        // Reservations lapse within the TTL; a minute is a fair first wait.
        E::TooManyPending { .. } => headers.push((RETRY_AFTER, HeaderValue::from_static("60"))),
        E::Unavailable | E::StorageUnavailable | E::NoSpace | E::Busy(_) => {
            headers.push((RETRY_AFTER, HeaderValue::from_static("1")))
        }
        E::ScanPending | E::ScannerUnreachable => headers.push((RETRY_AFTER, HeaderValue::from_static("5"))),
        E::RangeNotSatisfiable { size } => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                headers.push((hyper::header::CONTENT_RANGE, v));
            }
        }
        _ => {}
    }
    ErrorReply { status, code, message, body, headers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rejections_carry_the_reference_fields() {
        let r = reply(&E::UserQuotaExhausted { quota: 10, used: 8, size: 5 });
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.body["code"], "user_quota_exhausted");
        assert_eq!(r.body["message"], "User attachment quota would be exceeded (8 + 5 > 10 bytes)");
        assert_eq!(r.body["user_quota_bytes"], 10);
        assert_eq!(r.body["user_used_bytes"], 8);
        let r = reply(&E::ProjectQuotaExhausted { quota: 10, used: 8, size: 5 });
        assert_eq!(r.body["quota_bytes"], 10);
        assert_eq!(r.body["used_bytes"], 8);
    }

    #[test]
    fn internals_never_leak() {
        let r = reply(&E::Internal("rocksdb: IO error: /secret/path".into()));
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.body, json!({"error": "Internal error", "code": "internal_error"}));
    }

    #[test]
    fn every_client_error_is_4xx_with_a_message() {
        let cases = [
            E::MissingAuth,
            E::InvalidApiKey,
            E::MissingPermission("events:read"),
            E::KeyNotAppScoped,
            E::InvalidRequest("x".into()),
            E::BadParameter("y".into()),
            E::MissingParameter("title"),
            E::DisallowedContentType("application/x-sh".into()),
            E::NotOctetStream { parsed: false },
            E::AttachmentNotFound,
            E::WrongApp,
            E::AttachmentDeleted,
            E::AlreadyUploaded,
            E::SizeExceeded,
            E::SizeShort { got: 1, declared: 2 },
            E::HashMismatch,
            E::InvalidDownloadToken,
            E::RangeNotSatisfiable { size: 3 },
            E::NotJson,
            E::TooManyPending { what: "count" },
            E::AttachmentTooLarge { size: 2, max: 1 },
        ];
        for e in cases {
            let r = reply(&e);
            assert!(r.status.is_client_error(), "{e:?}");
            assert!(r.body.get("error").or(r.body.get("message")).is_some_and(|m| !m.as_str().unwrap().is_empty()));
        }
    }
}
