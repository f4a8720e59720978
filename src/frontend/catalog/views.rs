//! Seed 001's JSON: the attachment object (`id, file_name, file_size, mime_type,
//! uploaded_by {id, full_name}, created_at`), the signed-URL answer of a product download, the
//! delete answer, and error bodies (`{"detail": <message>, "code": <code>}`: the seed names
//! statuses only; `detail` is its platform's convention, `code` is attachd's stable code).

use serde::Serialize;

use crate::clock::Timestamp;
use crate::model::Attachment;

/// `uploaded_by`.
#[derive(Debug, Serialize)]
pub struct UploadedBy {
    /// User id.
    pub id: String,
    /// Display name.
    pub full_name: String,
}

/// The attachment object.
#[derive(Debug, Serialize)]
pub struct AttachmentView {
    /// Attachment id.
    pub id: String,
    /// File name as uploaded (last path component).
    pub file_name: String,
    /// Bytes.
    pub file_size: u64,
    /// The allowlisted type's MIME type.
    pub mime_type: String,
    /// Who uploaded it.
    pub uploaded_by: UploadedBy,
    /// When it was uploaded (ISO-8601, UTC).
    pub created_at: String,
}

impl AttachmentView {
    /// The view of `rec`, uploaded by a person named `full_name`.
    pub fn new(rec: &Attachment, full_name: String) -> Self {
        Self {
            id: rec.id.to_string(),
            file_name: rec.meta.original_filename.clone(),
            file_size: rec.size_bytes,
            mime_type: rec.meta.content_type.clone(),
            uploaded_by: UploadedBy { id: rec.uploader.as_ref().map(|u| u.0.clone()).unwrap_or_default(), full_name },
            created_at: rec.uploaded_at.unwrap_or(rec.created_at).to_iso(),
        }
    }
}

/// A product download's answer.
#[derive(Debug, Serialize)]
pub struct DownloadUrl {
    /// The signed URL.
    pub download_url: String,
    /// File name.
    pub file_name: String,
    /// When the URL stops working.
    pub expires_at: String,
}

impl DownloadUrl {
    /// The answer for `rec` at `url`, valid until `expires`.
    pub fn new(rec: &Attachment, url: String, expires: Timestamp) -> Self {
        Self { download_url: url, file_name: rec.meta.original_filename.clone(), expires_at: expires.to_iso() }
    }
}
