//! Column family `filters`: one timeline per parent (an event, an issue, a ticket…) of the
//! visible attachments attached to it, newest first.
//!
//! ```text
//! key:    0      1            17                   25               41
//!         | tag  | uuid       | !created_at (BE)   | attachment id  |   kinds 1–3, UUID ids
//!         | 'p'  | kind | 1 | len=16 | uuid | !created_at | id |         any other parent
//!         | 'p'  | kind | 2 | len   | text | !created_at | id |
//! value:  0              16
//!         | project id   |      (so scope can be checked without loading the record)
//! tag:    'c' client event, 'e' event, 'i' issue (the 0.1.0 layout, kept)
//! ```
//! Every prefix is self-delimiting (fixed or length-prefixed), so one parent's scan never
//! runs into another's.

use crate::ids::ProjectId;
use crate::model::{ParentId, ParentKind, ParentRef};

use super::listing::{After, TimelineRow, timeline_key};
use super::{Batch, Index, IndexError};
use crate::model::Attachment;

/// Column family name.
pub const CF: &str = "filters";

/// The key prefix of one parent's timeline.
pub fn prefix(p: &ParentRef) -> Vec<u8> {
    let legacy = match p.kind {
        ParentKind::ClientEvent => Some(b'c'),
        ParentKind::Event => Some(b'e'),
        ParentKind::Issue => Some(b'i'),
        _ => None,
    };
    match (&p.id, legacy) {
        (ParentId::Uuid(u), Some(tag)) => {
            let mut k = Vec::with_capacity(17);
            k.push(tag);
            k.extend_from_slice(u.as_bytes());
            k
        }
        (id, _) => {
            let (id_tag, bytes): (u8, &[u8]) = match id {
                ParentId::Uuid(u) => (1, u.as_bytes()),
                ParentId::Text(t) => (2, t.as_bytes()),
            };
            let bytes = &bytes[..bytes.len().min(255)];
            let mut k = Vec::with_capacity(4 + bytes.len());
            k.extend_from_slice(&[b'p', p.kind.tag(), id_tag, bytes.len() as u8]);
            k.extend_from_slice(bytes);
            k
        }
    }
}

impl Index {
    /// Attachments under `parent`, newest first, from `after`, with their project.
    pub fn list_filter(
        &self,
        parent: &ParentRef,
        after: After,
    ) -> impl Iterator<Item = Result<(TimelineRow, ProjectId), IndexError>> + use<'_> {
        self.scan_timeline(CF, &prefix(parent), after).map(|r| {
            let (row, v) = r?;
            let project =
                ProjectId::from_slice(&v).ok_or(IndexError::Corrupt { cf: CF, what: "short value".into() })?;
            Ok((row, project))
        })
    }
}

impl Batch<'_> {
    /// Adds the record's filter rows.
    pub(super) fn put_filters(&mut self, rec: &Attachment) {
        for p in &rec.parents {
            self.put(CF, &timeline_key(&prefix(p), rec.created_at, rec.id), rec.project_id.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientEventId, IssueId};
    use crate::index::records::tests::sample;
    use crate::index::temp_index;

    #[test]
    fn filter_rows_follow_the_record() {
        let (_d, idx) = temp_index();
        let mut r = sample();
        let issue = ParentRef::uuid(ParentKind::Issue, IssueId::random().0);
        r.set_parent(ParentKind::Issue, Some(issue.clone()));
        let ticket = ParentRef { kind: ParentKind::Ticket, id: ParentId::Text("T-1".into()) };
        r.set_parent(ParentKind::Ticket, Some(ticket.clone()));
        let mut b = idx.batch();
        b.transition(None, Some(&r)).unwrap();
        b.commit(false).unwrap();
        let ce = r.parent(ParentKind::ClientEvent).unwrap().clone();
        let got: Vec<_> = idx.list_filter(&ce, After::Start).map(Result::unwrap).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.id, r.id);
        assert_eq!(got[0].1, r.project_id);
        assert_eq!(idx.list_filter(&issue, After::Start).count(), 1);
        assert_eq!(idx.list_filter(&ticket, After::Start).count(), 1);
        let other = ParentRef { kind: ParentKind::Ticket, id: ParentId::Text("T-10".into()) };
        assert_eq!(idx.list_filter(&other, After::Start).count(), 0, "prefixes are self-delimiting");
        let stranger = ParentRef::uuid(ParentKind::ClientEvent, ClientEventId::random().0);
        assert_eq!(idx.list_filter(&stranger, After::Start).count(), 0);
        let mut gone = r.clone();
        gone.deleted_at = Some(crate::clock::Timestamp(1));
        let mut b = idx.batch();
        b.transition(Some(&r), Some(&gone)).unwrap();
        b.commit(false).unwrap();
        assert_eq!(idx.list_filter(&ce, After::Start).count(), 0);
    }
}
