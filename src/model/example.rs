//! Example records, for the tests, benches and the backend conformance suite that need a
//! plausible attachment without caring about most of its fields.

use uuid::Uuid;

use crate::clock::Timestamp;
use crate::ids::{AppId, AttachmentId, EndUserId, ProjectId, Sha256Digest};

use super::{Attachment, Digests, Metadata, ParentKind, ParentRef, Retention, ScanState};

/// A pending reservation of `size` bytes in `project`, owned by `owner`, created at `created`.
pub fn reservation(project: ProjectId, owner: Option<&str>, size: u64, created: u64) -> Attachment {
    Attachment {
        id: AttachmentId::random(),
        project_id: project,
        app_id: Some(AppId::random()),
        parents: vec![ParentRef::uuid(ParentKind::ClientEvent, Uuid::new_v4())],
        owner: owner.map(|o| EndUserId(o.into())),
        uploader: None,
        meta: Metadata {
            original_filename: "f.bin".into(),
            content_type: "application/pdf".into(),
            ..Default::default()
        },
        size_bytes: size,
        digests: Digests { sha256: Sha256Digest([1; 32]), md5: None },
        scan: ScanState::NotScanned,
        retention: Retention::Kept,
        is_dev: false,
        created_at: Timestamp(created),
        expires_at: Timestamp(created + 900_000_000),
        uploaded_at: None,
        deleted_at: None,
        location: None,
    }
}
