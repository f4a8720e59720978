//! The parts of an [`super::Attachment`]: parent references, metadata, digests, scan state
//! and retention. Each is a plain value with the invariants its type can carry (a parent has
//! exactly one id of the kind's shape; an MD5 is 16 bytes).

use uuid::Uuid;

use crate::clock::Timestamp;
use crate::ids::Sha256Digest;

/// What kind of entity an attachment hangs off. The discriminants are stored: never reuse one
/// (nor a serde name: the control plane stores registered parents as JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum ParentKind {
    /// An analytics event, by the id its client generated.
    ClientEvent = 1,
    /// The same event, by the id the host application gave it.
    Event = 2,
    /// An issue (a group of events).
    Issue = 3,
    /// A product in a catalog space.
    Product = 4,
    /// A support ticket.
    Ticket = 5,
    /// A named point (slot) in a session.
    SessionPoint = 6,
    /// An asset record.
    Asset = 7,
    /// A project of the host application.
    Project = 8,
    /// A comment (on a ticket) the file was posted with.
    Comment = 9,
    /// A record that holds at most one file at a time, by the record's id (which stays while
    /// its file is replaced).
    Record = 10,
    /// An end user's own files (uploaded through a signed URL), by the end user's id: only
    /// files with this parent are read back by their owner alone.
    EndUser = 11,
}

impl ParentKind {
    /// Every kind, in stored order.
    pub const ALL: [ParentKind; 11] = [
        Self::ClientEvent,
        Self::Event,
        Self::Issue,
        Self::Product,
        Self::Ticket,
        Self::SessionPoint,
        Self::Asset,
        Self::Project,
        Self::Comment,
        Self::Record,
        Self::EndUser,
    ];

    /// The stored tag.
    pub fn tag(self) -> u8 {
        self as u8
    }

    /// The kind with this stored tag.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tag() == tag)
    }
}

/// A parent's id: a UUID, or the host application's own opaque string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParentId {
    /// A UUID.
    Uuid(Uuid),
    /// An opaque string (1–255 bytes).
    Text(String),
}

/// Longest [`is_token_id`] id.
pub const MAX_TOKEN_ID: usize = 64;

/// Whether `s` is an opaque token id: 1–64 characters of `[A-Za-z0-9_-]` (asset, host-project
/// and record ids, which travel as one URL path segment).
pub fn is_token_id(s: &str) -> bool {
    (1..=MAX_TOKEN_ID).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A reference to the entity an attachment is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParentRef {
    /// The kind of entity.
    pub kind: ParentKind,
    /// Its id.
    pub id: ParentId,
}

impl ParentRef {
    /// A parent identified by a UUID.
    pub fn uuid(kind: ParentKind, id: Uuid) -> Self {
        Self { kind, id: ParentId::Uuid(id) }
    }

    /// The UUID, if this parent has one.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match &self.id {
            ParentId::Uuid(u) => Some(*u),
            ParentId::Text(_) => None,
        }
    }
}

/// Names and descriptions, as the uploader gave them. Only the filename and content type are
/// always present; each API fills what it has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The file's name as uploaded (any characters; sanitised only where written into headers).
    pub original_filename: String,
    /// The declared MIME type, verbatim.
    pub content_type: String,
    /// A title.
    pub title: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// A category.
    pub category: Option<String>,
    /// Tags, in the order given.
    pub tags: Vec<String>,
    /// The uploader's own status label.
    pub status: Option<String>,
    /// An id the host application keeps for it.
    pub external_id: Option<String>,
    /// When the names and descriptions were last edited (after creation), where an API edits
    /// them.
    pub edited_at: Option<Timestamp>,
}

/// An MD5 digest (reported by APIs that promise one; never used for integrity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5Digest(pub [u8; 16]);

/// The digests of an attachment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    /// SHA-256, always: declared at reserve or computed while streaming, verified at upload.
    pub sha256: Sha256Digest,
    /// MD5, computed while streaming when the API reports it.
    pub md5: Option<Md5Digest>,
}

/// What scanning has found. The discriminants are stored: never reuse one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ScanState {
    /// The API does not scan this attachment.
    #[default]
    NotScanned,
    /// Waiting for (or in) a scan.
    Pending,
    /// Scanned; nothing found.
    Clean,
    /// Scanned; the scanner named this signature. Never served.
    Infected(String),
    /// The scan could not complete (with why). Never served as clean.
    Failed(String),
}

/// How long an attachment is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Retention {
    /// Until deleted.
    #[default]
    Kept,
    /// Removed by cleanup at this time (ephemeral files).
    Until(Timestamp),
}
