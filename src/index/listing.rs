//! Column family `listing`: every visible (not soft-deleted) attachment of a project, newest first.
//!
//! ```text
//! key:    0             16                   24               40
//!         | project id  | !created_at (BE)   | attachment id  |
//! value:  empty
//! ```
//! `!created_at` is `u64::MAX - created_at_µs`, so a forward scan of one project's prefix
//! returns newest first, and the attachment id breaks ties: a page boundary can never skip or
//! repeat a row. The same "timeline" layout (some prefix, then `!created_at`, then id) is used
//! by the `filters` family; the helpers here serve both.

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, ProjectId};

use super::{Batch, Index, IndexError};
use crate::model::Attachment;

/// Column family name.
pub const CF: &str = "listing";

pub use crate::model::{After, TimelineRow};

pub(crate) fn timeline_key(prefix: &[u8], created: Timestamp, id: AttachmentId) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 24);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&(u64::MAX - created.0).to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

fn decode_row(prefix_len: usize, key: &[u8]) -> Option<TimelineRow> {
    let rest = key.get(prefix_len..)?;
    let inv = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    Some(TimelineRow { created_at: Timestamp(u64::MAX - inv), id: AttachmentId::from_slice(rest.get(8..24)?)? })
}

impl Index {
    /// Scans a timeline (`cf`, keys starting with `prefix`) from `after`, newest first, yielding
    /// rows and their values.
    pub(crate) fn scan_timeline<'a>(
        &'a self,
        cf: &'static str,
        prefix: &[u8],
        after: After,
    ) -> impl Iterator<Item = Result<(TimelineRow, Box<[u8]>), IndexError>> + use<'a> {
        let (from, skip_exact) = match after {
            After::Start => (prefix.to_vec(), None),
            After::Row(t, id) => {
                let k = timeline_key(prefix, t, id);
                (k.clone(), Some(k))
            }
            After::OlderThan(t) => {
                // created < t  ⇔  !created > !t  ⇔  key ≥ prefix | (!t + 1)
                let mut k = prefix.to_vec();
                match (u64::MAX - t.0).checked_add(1) {
                    Some(inv) => k.extend_from_slice(&inv.to_be_bytes()),
                    None => k.extend_from_slice(&[0xff; 9]),
                }
                (k, None)
            }
        };
        let plen = prefix.len();
        self.scan_prefix(cf, prefix.to_vec(), &from)
            .filter(move |r| match (r, &skip_exact) {
                (Ok((k, _)), Some(skip)) => k.as_ref() != skip.as_slice(),
                _ => true,
            })
            .map(move |r| {
                let (k, v) = r?;
                let row = decode_row(plen, &k).ok_or(IndexError::Corrupt { cf, what: "short timeline key".into() })?;
                Ok((row, v))
            })
    }

    /// One project's visible attachments, newest first, from `after`.
    pub fn list_project(
        &self,
        project: &ProjectId,
        after: After,
    ) -> impl Iterator<Item = Result<TimelineRow, IndexError>> + use<'_> {
        self.scan_timeline(CF, project.as_bytes(), after).map(|r| r.map(|(row, _)| row))
    }
}

impl Batch<'_> {
    /// Adds the record's listing row.
    pub(super) fn put_listing(&mut self, rec: &Attachment) {
        self.put(CF, &timeline_key(rec.project_id.as_bytes(), rec.created_at, rec.id), &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::records::tests::sample;
    use crate::index::temp_index;

    #[test]
    fn newest_first_with_exact_cursor_and_tie_breaker() {
        let (_d, idx) = temp_index();
        let project = ProjectId::random();
        let mut recs = Vec::new();
        for i in 0..10u64 {
            let mut r = sample();
            r.project_id = project;
            // Pairs share a timestamp to exercise the tie-breaker.
            r.created_at = Timestamp(1_000 + i / 2);
            recs.push(r);
        }
        let mut b = idx.batch();
        for r in &recs {
            b.put_listing(r);
        }
        b.commit(false).unwrap();
        let all: Vec<TimelineRow> = idx.list_project(&project, After::Start).map(Result::unwrap).collect();
        assert_eq!(all.len(), 10);
        assert!(
            all.windows(2)
                .all(|w| (w[0].created_at, std::cmp::Reverse(w[0].id))
                    >= (w[1].created_at, std::cmp::Reverse(w[1].id)))
        );
        // Page through three at a time: every row exactly once.
        let mut seen = Vec::new();
        let mut after = After::Start;
        loop {
            let page: Vec<TimelineRow> = idx.list_project(&project, after).take(3).map(Result::unwrap).collect();
            if page.is_empty() {
                break;
            }
            let last = *page.last().unwrap();
            seen.extend(page);
            after = After::Row(last.created_at, last.id);
        }
        assert_eq!(seen, all);
        // The reference's ISO cursor: strictly older.
        let older: Vec<TimelineRow> =
            idx.list_project(&project, After::OlderThan(Timestamp(1_002))).map(Result::unwrap).collect();
        assert_eq!(older.len(), 4);
        assert!(older.iter().all(|r| r.created_at.0 < 1_002));
        // Another project's prefix sees nothing.
        assert_eq!(idx.list_project(&ProjectId::random(), After::Start).count(), 0);
    }
}
