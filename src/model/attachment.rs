//! [`Attachment`]: one attachment's record, in every state of its lifecycle.
//!
//! Invariants every writer keeps (and fsck checks): `uploaded_at` and `location` are both set
//! or both absent; `deleted_at` is set only once and never cleared; `size_bytes` and the SHA-256
//! are the declared ones, verified against the bytes before `uploaded_at` is set.

use crate::clock::Timestamp;
use crate::ids::{AppId, AttachmentId, EndUserId, ProjectId, SegmentId, UserId};

use super::parts::{Digests, Metadata, ParentKind, ParentRef, Retention, ScanState};

/// Where an uploaded attachment's bytes are, as the blob store placed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A record in a segment file, at `offset` (of the record header).
    Segment {
        /// Segment number.
        segment: SegmentId,
        /// Offset of the record header.
        offset: u64,
    },
    /// A standalone file `blobs/<project>/<YYYY-MM>/<id>`.
    Standalone {
        /// `YYYYMM` of the upload.
        month: u32,
        /// CRC-32C of the whole file, checked on every full download (cheaper than SHA-256).
        crc32c: Option<u32>,
    },
}

impl Location {
    /// The month directory, if this is a standalone file.
    pub fn standalone_month(&self) -> Option<u32> {
        match self {
            Location::Standalone { month, .. } => Some(*month),
            Location::Segment { .. } => None,
        }
    }
}

/// Everything known about one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its id (a v4 UUID attachd assigns).
    pub id: AttachmentId,
    /// The project it belongs to (its tenant; the team follows from the project).
    pub project_id: ProjectId,
    /// The app that reserved it, for APIs whose keys belong to an app.
    pub app_id: Option<AppId>,
    /// What it is attached to (events, tickets, products, slots…), at most one per kind.
    pub parents: Vec<ParentRef>,
    /// The end user it belongs to: the per-user quota counts it against this id.
    pub owner: Option<EndUserId>,
    /// The authenticated person who uploaded it, where an API records one.
    pub uploader: Option<UserId>,
    /// Names and descriptions.
    pub meta: Metadata,
    /// Declared size in bytes (verified at upload).
    pub size_bytes: u64,
    /// Declared or computed digests.
    pub digests: Digests,
    /// Whether the content has been scanned, and what the scan said.
    pub scan: ScanState,
    /// Whether it is kept until deleted or removed at a deadline.
    pub retention: Retention,
    /// Uploaded by a development build (kept apart in listings).
    pub is_dev: bool,
    /// When it was reserved.
    pub created_at: Timestamp,
    /// When an un-uploaded reservation lapses.
    pub expires_at: Timestamp,
    /// When its bytes were committed.
    pub uploaded_at: Option<Timestamp>,
    /// When it was soft-deleted.
    pub deleted_at: Option<Timestamp>,
    /// Where its bytes are, once uploaded.
    pub location: Option<Location>,
}

impl Attachment {
    /// Whether the bytes have been uploaded.
    pub fn is_uploaded(&self) -> bool {
        self.uploaded_at.is_some()
    }

    /// Reserved, not uploaded and not deleted: waiting for its bytes until `expires_at`.
    pub fn is_pending(&self) -> bool {
        self.uploaded_at.is_none() && self.deleted_at.is_none()
    }

    /// The parent of one kind, if any.
    pub fn parent(&self, kind: ParentKind) -> Option<&ParentRef> {
        self.parents.iter().find(|p| p.kind == kind)
    }

    /// Sets (or with `None` removes) the parent of `kind`, keeping parents in kind order.
    pub fn set_parent(&mut self, kind: ParentKind, parent: Option<ParentRef>) {
        self.parents.retain(|p| p.kind != kind);
        if let Some(p) = parent {
            debug_assert_eq!(p.kind, kind);
            self.parents.push(p);
            self.parents.sort_by_key(|p| p.kind);
        }
    }
}
