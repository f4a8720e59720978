//! The service layer's error: what went wrong, in domain terms. No HTTP here: each front end
//! owns the table that turns each variant into its status, stable code and body (the seed-000
//! API's is `frontend/events/error.rs`).

/// Every way a service call can fail.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    // --- who is calling -------------------------------------------------------------------
    /// No credential at all.
    #[error("Missing authorization")]
    MissingAuth,
    /// An Authorization header that is not `Bearer <token>`.
    #[error("Invalid authorization format")]
    InvalidAuthFormat,
    /// Unknown or revoked API key.
    #[error("Invalid API key")]
    InvalidApiKey,
    /// The key's expiry has passed.
    #[error("API key expired")]
    ApiKeyExpired,
    /// A JWT that does not verify.
    #[error("Invalid or expired token")]
    InvalidJwt,
    /// An admin token that is not ours.
    #[error("Invalid admin token")]
    InvalidAdminToken,
    /// The key lacks a permission.
    #[error("Missing permission: {0}")]
    MissingPermission(&'static str),
    /// The call needs an app-scoped (client) key.
    #[error("API key must be scoped to an app")]
    KeyNotAppScoped,
    /// The user is not in the owning team, or has too low a role.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The key's app was deleted.
    #[error("App associated with this API key no longer exists")]
    AppGone,
    /// The key's project was deleted.
    #[error("Project associated with this API key no longer exists")]
    ProjectGone,

    // --- what was asked ---------------------------------------------------------------------
    /// A reserve field failed validation (reference code `invalid_request`).
    #[error("{0}")]
    InvalidRequest(String),
    /// A path or query parameter is malformed.
    #[error("{0}")]
    BadParameter(String),
    /// A required parameter is missing (422, where an API answers so).
    #[error("Missing parameter {0}")]
    MissingParameter(&'static str),
    /// The request body is not JSON, or not the JSON we need.
    #[error("{0}")]
    BadJson(String),
    /// A JSON body over the limit.
    #[error("Request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// Denylisted content type.
    #[error("Content-Type \"{0}\" is not allowed for attachments")]
    DisallowedContentType(String),
    /// The PUT body is not `application/octet-stream` (`parsed`: a JSON or text body, which
    /// the reference answered with 400 rather than 415).
    #[error("Request body must be sent with Content-Type: application/octet-stream")]
    NotOctetStream {
        /// JSON or text/plain.
        parsed: bool,
    },
    /// A JSON endpoint got a body not declared `application/json`.
    #[error("Request body must be sent with Content-Type: application/json")]
    NotJson,
    /// Per-user quota would be exceeded.
    #[error("User attachment quota would be exceeded ({used} + {size} > {quota} bytes)")]
    UserQuotaExhausted {
        /// Effective quota.
        quota: u64,
        /// Current usage.
        used: u64,
        /// Requested size.
        size: u64,
    },
    /// Project quota would be exceeded.
    #[error("Project attachment quota would be exceeded ({used} + {size} > {quota} bytes)")]
    ProjectQuotaExhausted {
        /// Effective quota.
        quota: u64,
        /// Current usage.
        used: u64,
        /// Requested size.
        size: u64,
    },

    // --- the thing asked about ------------------------------------------------------------
    /// No such attachment (or not visible to the caller).
    #[error("Attachment not found")]
    AttachmentNotFound,
    /// No such project (or not visible to the caller).
    #[error("Project not found")]
    ProjectNotFound,
    /// Admin API: no such entity.
    #[error("{0} not found")]
    EntityNotFound(&'static str),
    /// PUT with a key of another app.
    #[error("Attachment belongs to a different app")]
    WrongApp,
    /// The attachment was soft-deleted.
    #[error("Attachment has been deleted")]
    AttachmentDeleted,
    /// The reservation lapsed before the PUT.
    #[error("Reservation expired; reserve the attachment again")]
    ReservationExpired,
    /// Bytes were already uploaded.
    #[error("Attachment has already been uploaded")]
    AlreadyUploaded,
    /// Another PUT to this reservation is running.
    #[error("Another upload to this attachment is in progress")]
    UploadInProgress,
    /// More bytes than declared.
    #[error("Upload exceeded declared size")]
    SizeExceeded,
    /// Fewer bytes than declared.
    #[error("Uploaded size {got} does not match declared {declared}")]
    SizeShort {
        /// Bytes received.
        got: u64,
        /// Bytes declared.
        declared: u64,
    },
    /// The SHA-256 differs from the reservation.
    #[error("Uploaded bytes do not match declared sha256")]
    HashMismatch,
    /// The client stopped sending (disconnect); the reservation stays retryable.
    #[error("Upload aborted before the body was complete")]
    UploadAborted,
    /// The client paused longer than the body idle timeout.
    #[error("Upload timed out waiting for the request body")]
    UploadTimedOut,
    /// No `t` parameter.
    #[error("Missing download token")]
    MissingDownloadToken,
    /// Bad, tampered or expired download token.
    #[error("Invalid or expired download token")]
    InvalidDownloadToken,
    /// A Range outside the attachment.
    #[error("Requested range is not satisfiable for {size} bytes")]
    RangeNotSatisfiable {
        /// Attachment size.
        size: u64,
    },
    /// Admin API: something with that name/id already exists.
    #[error("{0}")]
    Conflict(String),
    /// The file waits for (or is in) a content scan: it is not served until found clean.
    #[error("The file is still being scanned")]
    ScanPending,
    /// The content scanner found this signature: the file is never served.
    #[error("The file is infected ({0}) and is not served")]
    Infected(String),
    /// The content scan could not complete (why): the file is never served as clean.
    #[error("The file could not be scanned and is not served")]
    ScanFailed(String),
    /// A signed upload URL that is malformed, tampered, expired, or made for another purpose.
    #[error("Invalid or expired upload URL")]
    InvalidUploadToken,
    /// A body of unknown size passed the API's limit while it streamed (or its
    /// `Content-Length` already did).
    #[error("File too large: the limit is {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: u64,
    },
    /// One attachment larger than a project may hold pending (uploads.max_pending_bytes_per_project).
    #[error("Attachment of {size} bytes is larger than this server accepts ({max} bytes)")]
    AttachmentTooLarge {
        /// Declared size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// The project holds too many reservations not yet uploaded (count or bytes).
    #[error("Too many pending uploads in this project ({what}); upload or let reservations lapse first")]
    TooManyPending {
        /// Which cap: "count" or "bytes".
        what: &'static str,
    },
    /// Too many requests for this key.
    #[error("Rate limit exceeded")]
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },

    // --- our side ---------------------------------------------------------------------------
    /// The data volume is full.
    #[error("Insufficient storage: the data volume is full")]
    NoSpace,
    /// A memory budget is exhausted: retry shortly (the reservation is kept).
    #[error("Server busy: {0}; retry shortly")]
    Busy(&'static str),
    /// The file waits for a scan and the content scanner cannot be reached now.
    #[error("The content scanner is not reachable; retry later")]
    ScannerUnreachable,
    /// The daemon is starting or draining.
    #[error("Service is shutting down; retry shortly")]
    Unavailable,
    /// The storage backend cannot be reached now (its database is restarting or unreachable).
    #[error("Storage is unavailable; retry shortly")]
    StorageUnavailable,
    /// Stored bytes failed verification.
    #[error("Stored bytes failed verification")]
    Corrupt(String),
    /// A PUT failed on our side (the reference's `{"error":"Upload failed"}`); logged in full.
    #[error("Upload failed")]
    UploadFailed(String),
    /// A download could not read its bytes (the reference's "Failed to read attachment").
    #[error("Failed to read attachment")]
    ReadFailed(String),
    /// Anything else: logged in full, reported as a bare 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::engine::CatalogError> for ServiceError {
    /// Refusals a caller maps itself (quotas, caps: they need the request's size) arrive here
    /// only from calls that cannot refuse; everything else is a failure of the backend.
    fn from(e: crate::engine::CatalogError) -> Self {
        use crate::engine::CatalogError as C;
        match e {
            C::ProjectGone => Self::ProjectGone,
            C::TooManyPending { what } => Self::TooManyPending { what },
            C::TooLarge { size, max } => Self::AttachmentTooLarge { size, max },
            C::Conflict(what) => Self::Conflict(what),
            C::Unavailable(what) => {
                tracing::warn!(%what, "catalog unavailable");
                Self::StorageUnavailable
            }
            other => Self::Internal(format!("catalog: {other}")),
        }
    }
}

impl From<crate::engine::BlobError> for ServiceError {
    fn from(e: crate::engine::BlobError) -> Self {
        use crate::engine::BlobError as B;
        match e {
            B::NoSpace => Self::NoSpace,
            B::Corrupt(what) => Self::Corrupt(what),
            // Which operation failed decides the answer: a download reports it as a failed
            // read, an upload as a failed upload (both map `Internal`).
            B::Missing(what) => Self::Internal(format!("stored bytes missing: {what}")),
            B::RecordGone => Self::AttachmentNotFound,
            B::RecordDeleted => Self::AttachmentDeleted,
            B::AlreadyUploaded => Self::AlreadyUploaded,
            B::InProgress => Self::UploadInProgress,
            B::Unavailable => Self::Unavailable,
            B::Catalog(e) => e.into(),
            B::Backend(what) => Self::Internal(format!("blob store: {what}")),
        }
    }
}

/// Shorthand for service results.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;
