//! Signed-URL files (seed 004) as one front end: a client key asks for an upload URL for one
//! end user's file, the bytes are PUT to that URL without the key, and the file's status is
//! polled until it has been scanned; the owner then downloads it. Infected files, and files
//! still being scanned, are refused with the seed's 409.
//!
//! Credentials are the seed's headers: `api-key` (an attachd client key, which names the app
//! and so the project) and `user-id` (the end user, the per-user quota's key and the file's
//! owner: another user's file under the same key is 403). The service does the work
//! (`service::signed`); this folder parses, checks the type allowlist (by extension when a URL
//! is asked for, by extension and content on the upload's first bytes) and answers in the
//! seed's shapes (`wire.rs`).

pub mod handlers;
pub mod route;
pub mod wire;

use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;

use crate::http::Reply;
use crate::http::router::method_not_allowed;
use crate::ids::EndUserId;
use crate::service::{Admitted, Op, ServiceError};

pub use route::Route;

/// Seed 004's own settings (`[apis.files]`).
#[derive(Debug, Clone)]
pub struct FilesSettings {
    /// The path prefix it is mounted under (for the URLs it answers with).
    pub prefix: String,
    /// Largest file (`file_limits.max_size`).
    pub max_upload_bytes: u64,
    /// Allowed MIME types (`file_limits.allowed_types`).
    pub allowed_types: Vec<String>,
    /// Upload URL lifetime (`expires_in`).
    pub upload_url_ttl: Duration,
    /// Lifetime of a `persist=false` file.
    pub ephemeral_ttl: Duration,
    /// Whether files wait for a content scan.
    pub scan: bool,
}

/// The signed-URL files API over a service.
pub type FilesApi = crate::frontend::Api<FilesSettings>;

/// Longest `user-id`, in bytes.
pub const MAX_USER_ID: usize = 255;

impl FilesApi {
    /// Authenticates the `api-key` header and admits the key to `op`.
    pub(crate) fn admit(&self, req: &Request<Incoming>, op: Op) -> Result<Admitted, ServiceError> {
        let key = req.headers().get("api-key").and_then(|v| v.to_str().ok()).unwrap_or("").trim();
        let principal = self.service.authenticate(key)?;
        self.service.authorize(&principal, op)
    }

    /// The `user-id` header: 1–255 bytes without control characters.
    pub(crate) fn user_id(req: &Request<Incoming>) -> Result<EndUserId, ServiceError> {
        let v = req.headers().get("user-id").ok_or(ServiceError::MissingParameter("user-id"))?;
        let s = v.to_str().map_err(|_| ServiceError::BadParameter("user-id must be printable text".into()))?.trim();
        if s.is_empty() || s.len() > MAX_USER_ID || s.chars().any(char::is_control) {
            return Err(ServiceError::BadParameter(format!("user-id must be 1-{MAX_USER_ID} bytes")));
        }
        Ok(EndUserId(s.to_string()))
    }

    async fn dispatch(&self, route: Route, req: Request<Incoming>) -> Result<Reply, ServiceError> {
        match route {
            Route::SignedUrl => handlers::signed_url(self, req).await,
            Route::Upload(token) => handlers::upload(self, &token, req).await,
            Route::Status(id) => handlers::status(self, id, req).await,
            Route::Get(id) => handlers::get(self, id, req).await,
            Route::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Route::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
        }
    }
}

front_end!(FilesApi, wire::error);
