//! Column family `event_links`: which host event (and issue) a client event id belongs to.
//!
//! ```text
//! key:    0                  16
//!         | client event id  |
//! value:  EventLink (JSON)
//! ```
//! Written by the link endpoint; read at reserve time so an attachment reserved *after* its
//! event was linked gets `event_id`/`issue_id` at once (the event batch and the attachment
//! upload race in real SDKs, and both orders must work).

use serde::{Deserialize, Serialize};

use crate::ids::{AppId, ClientEventId, EventId, IssueId};

use super::{Batch, Index, IndexError};

/// Column family name.
pub const CF: &str = "event_links";

/// A link from a client event id to the host's ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLink {
    /// The app whose event this is.
    pub app_id: AppId,
    /// The host's event id.
    pub event_id: EventId,
    /// The issue the event belongs to, if known.
    pub issue_id: Option<IssueId>,
}

impl Index {
    /// The link recorded for `ce`, if any.
    pub fn event_link(&self, ce: &ClientEventId) -> Result<Option<EventLink>, IndexError> {
        match self.get_cf(CF, ce.as_bytes())? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| IndexError::Corrupt {
                    cf: CF,
                    what: e.to_string(),
                }),
        }
    }
}

impl Batch<'_> {
    /// Records (or replaces) the link for `ce`.
    pub fn put_event_link(&mut self, ce: &ClientEventId, link: &EventLink) {
        let v = serde_json::to_vec(link).expect("links always serialize");
        self.put(CF, ce.as_bytes(), &v);
    }
}
