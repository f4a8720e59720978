//! Column family `filters`: the list filters (`event_client_id`, `event_id`, `issue_id`), each a
//! timeline of the visible attachments carrying that value, newest first.
//!
//! ```text
//! key:    0      1            17                   25               41
//!         | tag  | filter id  | !created_at (BE)   | attachment id  |
//! value:  0              16
//!         | project id   |      (so scope can be checked without loading the record)
//! tag:    'c' event_client_id, 'e' event_id, 'i' issue_id
//! ```

use uuid::Uuid;

use crate::ids::ProjectId;

use super::listing::{After, TimelineRow, timeline_key};
use super::{AttachmentRecord, Batch, Index, IndexError};

/// Column family name.
pub const CF: &str = "filters";

/// Which filter a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// By the client-generated event UUID.
    EventClientId(Uuid),
    /// By the host application's event id.
    EventId(Uuid),
    /// By issue.
    IssueId(Uuid),
}

impl Filter {
    fn prefix(&self) -> [u8; 17] {
        let (tag, id) = match self {
            Filter::EventClientId(u) => (b'c', u),
            Filter::EventId(u) => (b'e', u),
            Filter::IssueId(u) => (b'i', u),
        };
        let mut p = [0u8; 17];
        p[0] = tag;
        p[1..].copy_from_slice(id.as_bytes());
        p
    }

    /// The filters a record appears under.
    pub fn of(rec: &AttachmentRecord) -> Vec<Filter> {
        let mut v = Vec::with_capacity(3);
        if let Some(x) = rec.event_client_id {
            v.push(Filter::EventClientId(x.0));
        }
        if let Some(x) = rec.event_id {
            v.push(Filter::EventId(x.0));
        }
        if let Some(x) = rec.issue_id {
            v.push(Filter::IssueId(x.0));
        }
        v
    }
}

impl Index {
    /// Attachments under `filter`, newest first, from `after`, with their project.
    pub fn list_filter(
        &self,
        filter: Filter,
        after: After,
    ) -> impl Iterator<Item = Result<(TimelineRow, ProjectId), IndexError>> + use<'_> {
        self.scan_timeline(CF, &filter.prefix(), after).map(|r| {
            let (row, v) = r?;
            let project =
                ProjectId::from_slice(&v).ok_or(IndexError::Corrupt { cf: CF, what: "short value".into() })?;
            Ok((row, project))
        })
    }
}

impl Batch<'_> {
    /// Adds the record's filter rows.
    pub fn put_filters(&mut self, rec: &AttachmentRecord) {
        for f in Filter::of(rec) {
            self.put(CF, &timeline_key(&f.prefix(), rec.created_at, rec.id), rec.project_id.as_bytes());
        }
    }

    /// Removes the record's filter rows.
    pub fn delete_filters(&mut self, rec: &AttachmentRecord) {
        for f in Filter::of(rec) {
            self.delete(CF, &timeline_key(&f.prefix(), rec.created_at, rec.id));
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
        r.issue_id = Some(IssueId::random());
        let mut b = idx.batch();
        b.put_filters(&r);
        b.commit(false).unwrap();
        let ce = Filter::EventClientId(r.event_client_id.unwrap().0);
        let got: Vec<_> = idx.list_filter(ce, After::Start).map(Result::unwrap).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.id, r.id);
        assert_eq!(got[0].1, r.project_id);
        assert_eq!(idx.list_filter(Filter::IssueId(r.issue_id.unwrap().0), After::Start).count(), 1);
        assert_eq!(idx.list_filter(Filter::EventClientId(ClientEventId::random().0), After::Start).count(), 0);
        let mut b = idx.batch();
        b.delete_filters(&r);
        b.commit(false).unwrap();
        assert_eq!(idx.list_filter(ce, After::Start).count(), 0);
    }
}
