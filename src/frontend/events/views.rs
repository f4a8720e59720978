//! What the seed-000 API returns, field for field as the reference serialises it, built from
//! the service's domain values, and the API's URL shapes: `upload_url` is
//! `<public_url>/v1/ingest/attachment/<id>`, a download URL
//! `<public_url>/v1/attachments/download?t=<token>`.

use serde::Serialize;

use crate::clock::Timestamp;
use crate::ids::AttachmentId;
use crate::model::{Attachment, Counter};
use crate::service::events::EventRefs;
use crate::service::usage::UsageReport;

/// Everything but RFC 3986 unreserved characters is percent-encoded in the token parameter.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Where the bytes of reservation `id` are PUT.
pub fn upload_url(public_url: &str, id: AttachmentId) -> String {
    format!("{public_url}/v1/ingest/attachment/{id}")
}

/// The download URL carrying a signed `token`.
pub fn download_url(public_url: &str, token: &str) -> String {
    format!("{public_url}/v1/attachments/download?t={}", percent_encoding::utf8_percent_encode(token, QUERY_VALUE))
}

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

impl DownloadUrl {
    /// The signed URL object for `rec`, from its `token` and the token's expiry.
    pub fn new(public_url: &str, rec: &Attachment, (token, expires): (String, Timestamp)) -> Self {
        Self {
            url: download_url(public_url, &token),
            expires_at: expires.to_iso(),
            original_filename: rec.meta.original_filename.clone(),
            content_type: rec.meta.content_type.clone(),
            size_bytes: rec.size_bytes,
        }
    }
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

impl AttachmentPage {
    /// The page of `records`; `cursor` names the next page's start, if any.
    pub fn new(records: &[Attachment], cursor: Option<String>) -> Self {
        Self { attachments: records.iter().map(AttachmentSummary::from).collect(), has_more: cursor.is_some(), cursor }
    }
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

impl Reservation {
    /// The answer for reservation `rec`.
    pub fn new(public_url: &str, rec: &Attachment) -> Self {
        Self {
            attachment_id: rec.id.to_string(),
            upload_url: upload_url(public_url, rec.id),
            expires_at: rec.expires_at.to_iso(),
        }
    }
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

impl Uploaded {
    /// The answer for committed upload `rec`, with a download URL from `token`.
    pub fn new(public_url: &str, rec: &Attachment, (token, expires): (String, Timestamp)) -> Self {
        Self {
            uploaded: true,
            attachment_id: rec.id.to_string(),
            size_bytes: rec.size_bytes,
            sha256: rec.digests.sha256.to_hex(),
            download_url: download_url(public_url, &token),
            download_url_expires_at: expires.to_iso(),
        }
    }
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

impl From<&UsageReport> for Usage {
    fn from(u: &UsageReport) -> Self {
        let user = u.user.as_ref();
        let share = |f: fn(&Counter) -> u64| user.map(|(_, c)| f(c));
        Self {
            project_id: u.project.to_string(),
            used_bytes: u.total.bytes_u64(),
            quota_bytes: u.quota_bytes,
            user_quota_bytes: u.user_quota_bytes,
            file_count: u.total.count_u64(),
            user_id: user.map(|(id, _)| id.0.clone()),
            user_used_bytes: share(Counter::bytes_u64),
            user_file_count: share(Counter::count_u64),
        }
    }
}
