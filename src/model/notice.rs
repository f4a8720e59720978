//! Per-project settings of the APIs that hand out upload URLs and announce verdicts: the
//! upload policy (limits a project sets over the configured defaults), notices (what happened
//! to a file that an outside system is told about) and the webhook they go to.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, ProjectId};

/// What became of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEvent {
    /// Scanned and found clean: it is served.
    Processed,
    /// The scanner found a signature: never served.
    Infected,
    /// The scan could not complete: never served.
    Failed,
}

impl FileEvent {
    /// The status name APIs report for it.
    pub fn status(self) -> &'static str {
        match self {
            FileEvent::Processed => "processed",
            FileEvent::Infected => "infected",
            FileEvent::Failed => "failed",
        }
    }
}

/// A notice owed to a project's webhook, queued in the same write as the change it announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    /// When it was queued (also its order).
    pub at: Timestamp,
    /// The file.
    pub file: AttachmentId,
    /// Its project (whose webhook is told).
    pub project: ProjectId,
    /// What happened.
    pub event: FileEvent,
}

/// A project's webhook: where notices go and the secret they are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The project.
    pub project_id: ProjectId,
    /// `http://host[:port]/path`.
    pub url: String,
    /// The signing secret (shown once when set).
    pub secret: String,
    /// When it was set.
    pub created_at: Timestamp,
}

/// A project's own limits on uploads through signed URLs; each unset field takes the API's
/// configured default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPolicy {
    /// Largest file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
    /// MIME types a file may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_types: Option<Vec<String>>,
    /// Lifetime of an upload URL, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_url_ttl_secs: Option<u64>,
}
