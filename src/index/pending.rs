//! Pending reservations per project, kept in memory beside the `expiry` family.
//!
//! Every `expiry` row is one pending reservation; its value holds the project and declared size
//! (see `expiry.rs`). [`Batch::put_expiry`] and [`Batch::delete_expiry`] record a delta, and
//! [`Batch::commit`] applies the batch's deltas here once RocksDB has taken the write, so these
//! totals always equal the rows committed (applied in any order: sums commute). At open they are
//! rebuilt by one scan of `expiry`. Reserve reads them to cap how much a project may hold
//! reserved-but-not-uploaded, and the metrics sampler reads the total instead of counting rows.
//!
//! [`Batch::put_expiry`]: super::Batch::put_expiry
//! [`Batch::delete_expiry`]: super::Batch::delete_expiry
//! [`Batch::commit`]: super::Batch::commit

use std::collections::HashMap;
use std::sync::Mutex;

use crate::ids::ProjectId;

pub use crate::model::Pending;

/// One change to a project's pending totals.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingDelta {
    pub project: ProjectId,
    pub count: i64,
    pub bytes: i128,
}

/// The per-project totals.
#[derive(Debug, Default)]
pub struct PendingTracker {
    by_project: Mutex<HashMap<ProjectId, (i64, i128)>>,
}

impl PendingTracker {
    pub(crate) fn apply(&self, deltas: &[PendingDelta]) {
        if deltas.is_empty() {
            return;
        }
        let mut m = self.by_project.lock().unwrap_or_else(|e| e.into_inner());
        for d in deltas {
            let e = m.entry(d.project).or_default();
            e.0 += d.count;
            e.1 += d.bytes;
            if e.0 == 0 && e.1 == 0 {
                m.remove(&d.project);
            }
        }
    }

    pub(crate) fn reset(&self) {
        self.by_project.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// A project's pending reservations.
    pub fn of(&self, project: &ProjectId) -> Pending {
        let m = self.by_project.lock().unwrap_or_else(|e| e.into_inner());
        m.get(project).map(|&(c, b)| to_pending(c, b)).unwrap_or_default()
    }

    /// Every project's together.
    pub fn total(&self) -> Pending {
        let m = self.by_project.lock().unwrap_or_else(|e| e.into_inner());
        let (c, b) = m.values().fold((0i64, 0i128), |(c, b), &(c2, b2)| (c + c2, b + b2));
        to_pending(c, b)
    }
}

fn to_pending(count: i64, bytes: i128) -> Pending {
    Pending { count: count.max(0) as u64, bytes: bytes.clamp(0, u64::MAX as i128) as u64 }
}

#[cfg(test)]
mod tests {
    use crate::index::records::tests::sample;
    use crate::index::temp_index;

    use super::*;

    #[test]
    fn totals_follow_committed_rows_and_survive_reopen() {
        let (dir, idx) = temp_index();
        let a = sample();
        let mut b2 = sample();
        b2.project_id = a.project_id;
        b2.size_bytes = 10;
        let mut b = idx.batch();
        b.transition(None, Some(&a)).unwrap();
        b.transition(None, Some(&b2)).unwrap();
        assert_eq!(idx.pending().of(&a.project_id), Pending::default(), "nothing until the commit");
        b.commit(false).unwrap();
        assert_eq!(idx.pending().of(&a.project_id), Pending { count: 2, bytes: a.size_bytes + 10 });
        // A batch that is dropped uncommitted changes nothing.
        let mut b = idx.batch();
        b.transition(Some(&a), None).unwrap();
        drop(b);
        assert_eq!(idx.pending().total().count, 2);
        let mut uploaded = a.clone();
        uploaded.uploaded_at = Some(crate::clock::Timestamp(3));
        let mut b = idx.batch();
        b.transition(Some(&a), Some(&uploaded)).unwrap();
        b.commit(false).unwrap();
        assert_eq!(idx.pending().of(&a.project_id), Pending { count: 1, bytes: 10 });
        drop(idx);
        let idx = crate::index::Index::open(&dir.path().join("index")).unwrap();
        assert_eq!(idx.pending().of(&a.project_id), Pending { count: 1, bytes: 10 }, "rebuilt at open");
        let mut b = idx.batch();
        b.clear_derived();
        b.commit(false).unwrap();
        assert_eq!(idx.pending().total(), Pending::default());
    }

    #[test]
    fn rows_written_before_the_value_carried_project_and_size_still_count() {
        let (dir, idx) = temp_index();
        let rec = sample();
        let mut b = idx.batch();
        b.put_record(&rec);
        b.put(crate::index::expiry::CF, &crate::index::expiry::key(rec.expires_at, rec.id), &[]);
        b.commit(false).unwrap();
        drop(idx);
        let idx = crate::index::Index::open(&dir.path().join("index")).unwrap();
        assert_eq!(idx.pending().of(&rec.project_id), Pending { count: 1, bytes: rec.size_bytes });
    }
}
