//! Seed 003's record JSON: exactly the seed's fields, in its order.
//!
//! `id` is the record's id (stable while its file is replaced), `parent_id` the asset's or
//! host project's id; `project_id` is the host's own project of an asset, which attachd is
//! never told: `null`, as in every example of the seed. `owner` is the creator's email.
//! `media_type` is `"placeholder"` until a file is attached, then the file's class: `image`,
//! `video`, `audio`, `document` (PDF, text, office formats) or `other`. `created_date` is
//! when the record was created; `modification_date` when its file or names last changed;
//! `deleted` when it was soft-deleted. `ai_tags` is always empty and `drop_folder_id` `null`
//! (attachd has neither).

use serde::Serialize;

use crate::clock::Timestamp;
use crate::model::{Attachment, ParentId, ParentKind};
use crate::service::records::{is_placeholder, record_id};

/// One record.
#[derive(Debug, Serialize)]
pub struct RecordView {
    id: String,
    external_id: Option<String>,
    parent_id: Option<String>,
    project_id: Option<String>,
    owner: Option<String>,
    title: Option<String>,
    description: Option<String>,
    category: Option<String>,
    tags: Vec<String>,
    ai_tags: Vec<String>,
    status: String,
    media_type: &'static str,
    original_filename: Option<String>,
    drop_folder_id: Option<String>,
    md5_sum: Option<String>,
    created_date: String,
    modification_date: String,
    deleted: Option<String>,
}

/// `{"asset": record}`, the record's fields kept in the seed's order (a `serde_json::Value`
/// would sort them).
#[derive(Debug, Serialize)]
pub struct One {
    /// The record.
    pub asset: RecordView,
}

/// `{"attachments": [record…]}`.
#[derive(Debug, Serialize)]
pub struct Many {
    /// The records, newest first.
    pub attachments: Vec<RecordView>,
}

/// The status a record has until one is set.
pub const DEFAULT_STATUS: &str = "open";

/// The class `media_type` reports for a MIME type.
pub fn media_class(content_type: &str) -> &'static str {
    let ct = crate::model::mime::essence(content_type);
    match ct.split('/').next().unwrap_or("") {
        "image" => "image",
        "video" => "video",
        "audio" => "audio",
        "text" => "document",
        _ if ct == "application/pdf"
            || ct == "application/msword"
            || ct == "application/rtf"
            || ct.starts_with("application/vnd.openxmlformats-officedocument")
            || ct.starts_with("application/vnd.ms-")
            || ct.starts_with("application/vnd.oasis.opendocument") =>
        {
            "document"
        }
        _ => "other",
    }
}

impl RecordView {
    /// The view of a record's attachment; `owner`: its creator's email.
    pub fn new(rec: &Attachment, owner: Option<String>) -> Self {
        let m = &rec.meta;
        let placeholder = is_placeholder(rec);
        let parent_id = [ParentKind::Asset, ParentKind::Project].iter().find_map(|k| match rec.parent(*k) {
            Some(p) => match &p.id {
                ParentId::Text(t) => Some(t.clone()),
                ParentId::Uuid(u) => Some(u.to_string()),
            },
            None => None,
        });
        let modified = [rec.uploaded_at, m.edited_at].into_iter().flatten().max().unwrap_or(rec.created_at);
        RecordView {
            id: record_id(rec).unwrap_or_default().to_string(),
            external_id: m.external_id.clone(),
            parent_id,
            project_id: None,
            owner,
            title: m.title.clone(),
            description: m.description.clone(),
            category: m.category.clone(),
            tags: m.tags.clone(),
            ai_tags: Vec::new(),
            status: m.status.clone().unwrap_or_else(|| DEFAULT_STATUS.to_string()),
            media_type: if placeholder { "placeholder" } else { media_class(&m.content_type) },
            original_filename: (!placeholder).then(|| m.original_filename.clone()),
            drop_folder_id: None,
            md5_sum: rec.digests.md5.filter(|_| !placeholder).map(|d| hex::encode(d.0)),
            created_date: iso(rec.created_at),
            modification_date: iso(modified),
            deleted: rec.deleted_at.map(iso),
        }
    }
}

fn iso(t: Timestamp) -> String {
    t.to_iso()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_classes() {
        for (ct, want) in [
            ("image/png", "image"),
            ("video/mp4", "video"),
            ("audio/ogg; codecs=opus", "audio"),
            ("text/csv", "document"),
            ("application/pdf", "document"),
            ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
            ("application/zip", "other"),
            ("", "other"),
        ] {
            assert_eq!(media_class(ct), want, "{ct}");
        }
    }
}
