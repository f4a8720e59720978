//! Column family `event_links`: which host event (issue, user) a client event id of an app
//! belongs to.
//!
//! ```text
//! key:    0          16                 32
//!         | app id   | client event id  |
//! value:  EventLink (JSON)
//! ```
//! Written by the link endpoint; read at reserve time so an attachment reserved *after* its
//! event was linked gets `event_id`/`issue_id` (and the event's user) at once — the event batch
//! and the attachment upload race in real SDKs, and both orders must work. Keyed by app, as
//! events are, so one app can never relink another's events.

use crate::ids::{AppId, ClientEventId};
use crate::model::control::EventLink;

use super::{Batch, Index, IndexError};

/// Column family name.
pub const CF: &str = "event_links";

fn key(app: &AppId, ce: &ClientEventId) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(app.as_bytes());
    k[16..].copy_from_slice(ce.as_bytes());
    k
}

impl Index {
    /// The link recorded for `ce` in `app`, if any.
    pub fn event_link(&self, app: &AppId, ce: &ClientEventId) -> Result<Option<EventLink>, IndexError> {
        match self.get_cf(CF, &key(app, ce))? {
            None => Ok(None),
            Some(v) => {
                serde_json::from_slice(&v).map(Some).map_err(|e| IndexError::Corrupt { cf: CF, what: e.to_string() })
            }
        }
    }
}

impl Batch<'_> {
    /// Records (or replaces) the link for `ce` in `app`.
    pub fn put_event_link(&mut self, app: &AppId, ce: &ClientEventId, link: &EventLink) {
        let v = serde_json::to_vec(link).expect("links always serialize");
        self.put(CF, &key(app, ce), &v);
    }
}
