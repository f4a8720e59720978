//! Seed 000's event references on the neutral model: its `client_event_id`, `event_id` and
//! `issue_id` are parents of kinds `ClientEvent`, `Event` and `Issue`, its `user_id` the
//! owner. The accessors here let seed-000 code read them by their wire names.

use crate::ids::{ClientEventId, EventId, IssueId};
use crate::model::{Attachment, ParentKind, ParentRef};

/// Seed 000's view of an attachment's parents.
pub trait EventRefs {
    /// The client-generated event id.
    fn client_event_id(&self) -> Option<ClientEventId>;
    /// The host application's event id.
    fn event_id(&self) -> Option<EventId>;
    /// The issue.
    fn issue_id(&self) -> Option<IssueId>;
}

impl EventRefs for Attachment {
    fn client_event_id(&self) -> Option<ClientEventId> {
        self.parent(ParentKind::ClientEvent).and_then(ParentRef::as_uuid).map(ClientEventId)
    }
    fn event_id(&self) -> Option<EventId> {
        self.parent(ParentKind::Event).and_then(ParentRef::as_uuid).map(EventId)
    }
    fn issue_id(&self) -> Option<IssueId> {
        self.parent(ParentKind::Issue).and_then(ParentRef::as_uuid).map(IssueId)
    }
}

/// The parents a seed-000 reservation or link names.
pub fn event_parents(ce: Option<ClientEventId>, event: Option<EventId>, issue: Option<IssueId>) -> Vec<ParentRef> {
    let mut out = Vec::with_capacity(3);
    if let Some(x) = ce {
        out.push(ParentRef::uuid(ParentKind::ClientEvent, x.0));
    }
    if let Some(x) = event {
        out.push(ParentRef::uuid(ParentKind::Event, x.0));
    }
    if let Some(x) = issue {
        out.push(ParentRef::uuid(ParentKind::Issue, x.0));
    }
    out
}
