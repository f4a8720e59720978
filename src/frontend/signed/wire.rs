//! Seed 004's wire shapes: errors as `{"error_code", "detail"}` with the seed's codes and
//! wording (429 as `{"message": "Rate limit exceeded!"}`), and the status reply. The status of
//! every error, and its headers (`Retry-After`), come from the one table
//! (`crate::frontend::errors`); only the body is this API's. Errors the seed does not list
//! keep the table's code, with its message as the detail.

use serde::Serialize;
use serde_json::json;

use crate::clock::Timestamp;
use crate::frontend::errors::reply;
use crate::http::Reply;
use crate::model::{Attachment, Retention};
use crate::service::ServiceError as E;
use crate::service::signed::{FileState, file_state};

const FORBIDDEN: &str = "You do not have permission to access this attachment.";
const NOT_FOUND: &str = "Document with `file_id` is not available for the user with `user_id` on the document server.";
const CONFLICT: &str = "Conflict - File is infected with a virus or it's still being processed";

/// The seed's code and detail for `e`.
pub fn code_and_detail(e: &E) -> (&'static str, String) {
    let r = reply(e);
    let (code, detail) = match e {
        E::MissingAuth | E::InvalidAuthFormat | E::InvalidApiKey | E::ApiKeyExpired | E::InvalidJwt => {
            ("unauthorized", "Missing or invalid API key")
        }
        E::Forbidden(_) | E::MissingPermission(_) | E::WrongApp | E::InvalidUploadToken => {
            ("attachment_access_forbidden", FORBIDDEN)
        }
        E::AttachmentNotFound | E::AttachmentDeleted | E::EntityNotFound(_) => {
            ("attachment_document_does_not_exist", NOT_FOUND)
        }
        E::ScanPending | E::Infected(_) => ("conflict", CONFLICT),
        E::AlreadyUploaded => ("conflict", "Conflict - The file has already been uploaded"),
        E::UploadInProgress => ("conflict", "Conflict - The file is being uploaded"),
        E::ScanFailed(_) => (
            "attachment_document_raised_an_error",
            "The file attachment service has raised an error. Please try again later",
        ),
        _ if r.status == hyper::StatusCode::SERVICE_UNAVAILABLE => (
            "attachment_document_not_reachable",
            "The file attachment service does not respond as expected. Please try again later.",
        ),
        _ if r.status.is_server_error() => ("internal_server_error", "Internal Server Error"),
        _ => return (r.code, r.message),
    };
    (code, detail.to_string())
}

/// The response for `e` in the seed's shape.
pub fn error(e: &E) -> Reply {
    let r = reply(e);
    let body = match e {
        E::RateLimited { .. } => json!({ "message": "Rate limit exceeded!" }),
        _ => {
            let (code, detail) = code_and_detail(e);
            json!({ "error_code": code, "detail": detail })
        }
    };
    r.respond(&body)
}

/// `GET /v1/files/:id/status`, fields in the seed's order.
#[derive(Debug, Serialize)]
pub struct StatusView {
    /// The file id.
    pub file_id: String,
    /// `pending`, `processing`, `processed`, `infected`, `failed` or `expired`.
    pub status: &'static str,
    /// Its name.
    pub filename: String,
    /// Its size once uploaded (`null` before).
    pub size: Option<u64>,
    /// Its type.
    pub content_type: String,
    /// Whether it is kept until deleted.
    pub persist: bool,
    /// When it goes: the upload URL's expiry while no bytes came, else the removal deadline of
    /// a file that is not kept (`null` for a kept one), ISO-8601.
    pub expires_at: Option<String>,
}

/// The seed's name of a state.
pub fn status_name(s: FileState) -> &'static str {
    match s {
        FileState::Waiting => "pending",
        FileState::Expired => "expired",
        FileState::Scanning => "processing",
        FileState::Ready => "processed",
        FileState::Infected => "infected",
        FileState::Failed => "failed",
    }
}

impl StatusView {
    /// The view of `rec` at `now`.
    pub fn of(rec: &Attachment, now: Timestamp) -> Self {
        let state = file_state(rec, now);
        let expires_at = match (state, rec.retention) {
            (FileState::Waiting, _) => Some(rec.expires_at),
            (_, Retention::Until(t)) => Some(t),
            (_, Retention::Kept) => None,
        };
        Self {
            file_id: rec.id.to_string(),
            status: status_name(state),
            filename: rec.meta.original_filename.clone(),
            size: rec.is_uploaded().then_some(rec.size_bytes),
            content_type: rec.meta.content_type.clone(),
            persist: rec.retention == Retention::Kept,
            expires_at: expires_at.map(|t| t.to_iso()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_codes_and_statuses() {
        let cases: Vec<(E, u16, &str)> = vec![
            (E::InvalidApiKey, 401, "unauthorized"),
            (E::MissingAuth, 401, "unauthorized"),
            (E::Forbidden("x"), 403, "attachment_access_forbidden"),
            (E::InvalidUploadToken, 403, "attachment_access_forbidden"),
            (E::AttachmentNotFound, 404, "attachment_document_does_not_exist"),
            (E::ScanPending, 409, "conflict"),
            (E::Infected("Eicar".into()), 409, "conflict"),
            (E::AlreadyUploaded, 409, "conflict"),
            (E::ScannerUnreachable, 503, "attachment_document_not_reachable"),
            (E::Unavailable, 503, "attachment_document_not_reachable"),
            (E::StorageUnavailable, 503, "attachment_document_not_reachable"),
            (E::Internal("secret path".into()), 500, "internal_server_error"),
            (E::PayloadTooLarge { limit: 10 }, 413, "payload_too_large"),
            (E::BadParameter("filename is required".into()), 400, "bad_parameter"),
        ];
        for (e, status, code) in cases {
            let (c, detail) = code_and_detail(&e);
            assert_eq!((reply(&e).status.as_u16(), c), (status, code), "{e:?}");
            assert!(!detail.is_empty() && !detail.contains("secret"), "{e:?}: {detail}");
        }
        assert_eq!(code_and_detail(&E::ScanPending).1, CONFLICT);
    }
}
