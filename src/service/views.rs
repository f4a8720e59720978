//! What the API returns, field for field as the reference serialises it.

use serde::Serialize;

use crate::model::Attachment;

use super::events::EventRefs;

/// One attachment in a list (and the body of the single GET, before `download_url`).
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentSummary {
    /// Attachment id.
    pub id: String,
    /// Project.
    pub project_id: String,
    /// App.
    pub app_id: String,
    /// Client event UUID, lowercase.
    pub event_client_id: Option<String>,
    /// Host event id.
    pub event_id: Option<String>,
    /// Issue id.
    pub issue_id: Option<String>,
    /// End user.
    pub user_id: Option<String>,
    /// Filename as reserved.
    pub original_filename: String,
    /// Content type, verbatim.
    pub content_type: String,
    /// Declared (= stored) size.
    pub size_bytes: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Development build.
    pub is_dev: bool,
    /// ISO time of the upload; null while pending.
    pub uploaded_at: Option<String>,
    /// ISO time of the reservation.
    pub created_at: String,
}

impl From<&Attachment> for AttachmentSummary {
    fn from(r: &Attachment) -> Self {
        Self {
            id: r.id.to_string(),
            project_id: r.project_id.to_string(),
            app_id: r.app_id.map(|a| a.to_string()).unwrap_or_default(),
            event_client_id: r.client_event_id().map(|x| x.to_string()),
            event_id: r.event_id().map(|x| x.to_string()),
            issue_id: r.issue_id().map(|x| x.to_string()),
            user_id: r.owner.as_ref().map(|u| u.0.clone()),
            original_filename: r.meta.original_filename.clone(),
            content_type: r.meta.content_type.clone(),
            size_bytes: r.size_bytes,
            sha256: r.digests.sha256.to_hex(),
            is_dev: r.is_dev,
            uploaded_at: r.uploaded_at.map(|t| t.to_iso()),
            created_at: r.created_at.to_iso(),
        }
    }
}

/// The signed URL object of the single GET.
#[derive(Debug, Clone, Serialize)]
pub struct DownloadUrl {
    /// Absolute URL with `?t=<token>`.
    pub url: String,
    /// ISO expiry.
    pub expires_at: String,
    /// Filename.
    pub original_filename: String,
    /// Content type.
    pub content_type: String,
    /// Size.
    pub size_bytes: u64,
}

/// The single GET's body.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentDetail {
    /// The summary fields, flattened.
    #[serde(flatten)]
    pub summary: AttachmentSummary,
    /// Present once uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<DownloadUrl>,
}

/// A page of the list.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentPage {
    /// The rows.
    pub attachments: Vec<AttachmentSummary>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub cursor: Option<String>,
    /// Whether another page exists.
    pub has_more: bool,
}

/// The reserve's 201 body.
#[derive(Debug, Clone, Serialize)]
pub struct Reservation {
    /// New attachment id.
    pub attachment_id: String,
    /// Where to PUT the bytes.
    pub upload_url: String,
    /// When the reservation lapses (enforced).
    pub expires_at: String,
}

/// The PUT's 200 body: the seed's `uploaded` plus the reference's fields.
#[derive(Debug, Clone, Serialize)]
pub struct Uploaded {
    /// Always true.
    pub uploaded: bool,
    /// Attachment id.
    pub attachment_id: String,
    /// Stored size.
    pub size_bytes: u64,
    /// Verified SHA-256.
    pub sha256: String,
    /// Signed download URL.
    pub download_url: String,
    /// Its expiry.
    pub download_url_expires_at: String,
}

/// The usage endpoint's body.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// Project.
    pub project_id: String,
    /// Bytes counted against the quota.
    pub used_bytes: u64,
    /// Effective project quota.
    pub quota_bytes: u64,
    /// Effective per-user quota.
    pub user_quota_bytes: u64,
    /// Attachments counted.
    pub file_count: u64,
    /// Echo of the `user_id` asked about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// That user's bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_used_bytes: Option<u64>,
    /// That user's attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_file_count: Option<u64>,
}
