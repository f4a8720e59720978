//! The one way a record changes: [`Batch::transition`] from its old state to its new one.
//!
//! Every write path (reserve, upload commit, relocation, link, soft delete, discard, hard
//! delete) states only the record before and after; this module writes the record and the
//! *difference* between what the two states imply ([`super::derived`]): derived rows removed or
//! added, counters moved by the net change, the in-memory pending totals adjusted. Rows and
//! counters the two states share are not rewritten, so an upload commit touches the record, its
//! expiry row and its segment counter, nothing else. Callers hold the record's stripe lock and,
//! when usage can change, the project's quota stripe, from the read of `old` until commit.

use super::counter::Counter;
use super::derived::{CounterKey, rows_of, shares_of};
use super::{Batch, IndexError};
use crate::model::Attachment;

impl Batch<'_> {
    /// Replaces `old` (None: no record yet) by `new` (None: the record is gone), with every
    /// derived row and counter change the difference implies.
    pub fn transition(&mut self, old: Option<&Attachment>, new: Option<&Attachment>) -> Result<(), IndexError> {
        self.implied(old, new)?;
        match (old, new) {
            (_, Some(n)) if old != Some(n) => self.put_record(n),
            (Some(o), None) => self.delete_record(o.id),
            _ => {}
        }
        Ok(())
    }

    /// What `rec` implies, added as if it were new, without writing the record itself
    /// (`fsck --repair` rebuilding rows and counters from the records).
    pub fn add_implied(&mut self, rec: &Attachment) -> Result<(), IndexError> {
        self.implied(None, Some(rec))
    }

    fn implied(&mut self, old: Option<&Attachment>, new: Option<&Attachment>) -> Result<(), IndexError> {
        let was = old.map(|r| rows_of(self.index, r)).unwrap_or_default();
        let will = new.map(|r| rows_of(self.index, r)).unwrap_or_default();
        for row in &was {
            if !will.iter().any(|w| w.cf == row.cf && w.key == row.key) {
                self.delete(row.cf, &row.key);
            }
        }
        for row in &will {
            if !was.contains(row) {
                self.put(row.cf, &row.key, &row.value);
            }
        }
        // The pending totals follow the expiry rows, which exist exactly while pending.
        if let Some(o) = old.filter(|r| r.is_pending()) {
            self.pending.push(super::expiry::delta(o, -1));
        }
        if let Some(n) = new.filter(|r| r.is_pending()) {
            self.pending.push(super::expiry::delta(n, 1));
        }
        // Net change per counter (at most three of each side), in first-seen order.
        let mut net: Vec<(CounterKey, Counter)> = Vec::with_capacity(6);
        for (sign, rec) in [(-1, old), (1, new)] {
            for (key, share) in rec.map(shares_of).unwrap_or_default() {
                let at = match net.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        net.push((key, Counter::default()));
                        net.len() - 1
                    }
                };
                net[at].1.bytes += sign * share.bytes;
                net[at].1.count += sign * share.count;
            }
        }
        for (key, delta) in net.into_iter().filter(|(_, c)| *c != Counter::default()) {
            match key {
                CounterKey::Usage(p, user) => self.add_usage(&p, user.as_ref(), delta)?,
                CounterKey::Segment(s) => self.add_segment_live(s, delta.bytes, delta.count),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use crate::clock::Timestamp;
    use crate::ids::{EndUserId, SegmentId};
    use crate::index::counter::Counter;
    use crate::index::derived::{CounterKey, shares_of};
    use crate::index::prelude::*;
    use crate::index::records::tests::sample;
    use crate::index::{Index, temp_index};
    use crate::model::{Attachment, Location};

    /// Everything a record's states imply is in the index, nothing else is, and every counter
    /// equals the sum recomputed from the records (what fsck checks).
    fn assert_consistent(idx: &Index) {
        let mut sums: HashMap<CounterKey, Counter> = HashMap::new();
        for rec in idx.all_records() {
            let rec = rec.unwrap();
            assert!(idx.missing_rows(&rec).unwrap().is_empty(), "{rec:?}");
            for (k, c) in shares_of(&rec) {
                let s = sums.entry(k).or_default();
                s.bytes += c.bytes;
                s.count += c.count;
            }
        }
        assert!(idx.dangling_rows().unwrap().is_empty());
        for (p, user, c) in idx.all_usage().unwrap() {
            let want = sums.remove(&CounterKey::Usage(p, user)).unwrap_or_default();
            assert_eq!(c, want);
        }
        for (s, c) in idx.segment_counters().unwrap() {
            assert_eq!(c, sums.remove(&CounterKey::Segment(s)).unwrap_or_default());
        }
        assert!(sums.values().all(|c| *c == Counter::default()), "counters missing: {sums:?}");
        let pending = idx.all_records().filter(|r| r.as_ref().unwrap().is_pending()).count();
        assert_eq!(idx.pending().total().count, pending as u64);
    }

    #[derive(Debug, Clone)]
    enum Step {
        Reserve { user: bool, size: u64 },
        UploadToSegment { which: usize, segment: u64 },
        UploadStandalone { which: usize },
        Relocate { which: usize, segment: u64 },
        Link { which: usize },
        SoftDelete { which: usize },
        Discard { which: usize },
        Reclaim { which: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (any::<bool>(), 1..10_000u64).prop_map(|(user, size)| Step::Reserve { user, size }),
            (any::<usize>(), 1..4u64).prop_map(|(which, segment)| Step::UploadToSegment { which, segment }),
            any::<usize>().prop_map(|which| Step::UploadStandalone { which }),
            (any::<usize>(), 1..4u64).prop_map(|(which, segment)| Step::Relocate { which, segment }),
            any::<usize>().prop_map(|which| Step::Link { which }),
            any::<usize>().prop_map(|which| Step::SoftDelete { which }),
            any::<usize>().prop_map(|which| Step::Discard { which }),
            any::<usize>().prop_map(|which| Step::Reclaim { which }),
        ]
    }

    /// Applies one step the way the service does: only from the states it allows.
    fn apply(idx: &Index, live: &mut Vec<Attachment>, project: crate::ids::ProjectId, step: Step) {
        let pick = |which: usize, live: &Vec<Attachment>| (!live.is_empty()).then(|| which % live.len());
        let (old, new) = match step {
            Step::Reserve { user, size } => {
                let mut r = sample();
                r.project_id = project;
                r.size_bytes = size;
                r.owner = user.then(|| EndUserId("u1".into()));
                live.push(r.clone());
                (None, Some(r))
            }
            Step::UploadToSegment { which, segment } | Step::Relocate { which, segment } => {
                let Some(i) = pick(which, live) else { return };
                let old = live[i].clone();
                let relocate = matches!(step, Step::Relocate { .. });
                let movable = matches!(old.location, Some(Location::Segment { .. })) && old.deleted_at.is_none();
                if (relocate && !movable) || (!relocate && !old.is_pending()) {
                    return;
                }
                let mut new = old.clone();
                new.uploaded_at.get_or_insert(Timestamp(7));
                new.location = Some(Location::Segment { segment: SegmentId(segment), offset: 64 * i as u64 });
                live[i] = new.clone();
                (Some(old), Some(new))
            }
            Step::UploadStandalone { which } => {
                let Some(i) = pick(which, live).filter(|&i| live[i].is_pending()) else { return };
                let old = live[i].clone();
                let mut new = old.clone();
                new.uploaded_at = Some(Timestamp(8));
                new.location = Some(Location::Standalone { month: 202612, crc32c: Some(1) });
                live[i] = new.clone();
                (Some(old), Some(new))
            }
            Step::Link { which } => {
                let Some(i) = pick(which, live).filter(|&i| live[i].deleted_at.is_none()) else { return };
                let old = live[i].clone();
                let mut new = old.clone();
                new.owner.get_or_insert_with(|| EndUserId("u2".into()));
                let event = crate::model::ParentRef::uuid(crate::model::ParentKind::Event, uuid::Uuid::new_v4());
                new.set_parent(crate::model::ParentKind::Event, Some(event));
                live[i] = new.clone();
                (Some(old), Some(new))
            }
            Step::SoftDelete { which } => {
                let Some(i) = pick(which, live).filter(|&i| live[i].deleted_at.is_none()) else { return };
                let old = live[i].clone();
                let mut new = old.clone();
                new.deleted_at = Some(Timestamp(9 + i as u64));
                live[i] = new.clone();
                (Some(old), Some(new))
            }
            Step::Discard { which } => {
                let Some(i) = pick(which, live).filter(|&i| live[i].is_pending()) else { return };
                (Some(live.remove(i)), None)
            }
            Step::Reclaim { which } => {
                let Some(i) = pick(which, live).filter(|&i| live[i].deleted_at.is_some()) else { return };
                (Some(live.remove(i)), None)
            }
        };
        let mut b = idx.batch();
        b.transition(old.as_ref(), new.as_ref()).unwrap();
        b.commit(false).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any sequence of the service's transitions leaves rows and counters exactly as the
        /// records imply.
        #[test]
        fn any_sequence_of_transitions_keeps_the_index_consistent(steps in proptest::collection::vec(step(), 1..40)) {
            let (_d, idx) = temp_index();
            let project = crate::ids::ProjectId::random();
            let mut live = Vec::new();
            for s in steps {
                apply(&idx, &mut live, project, s);
                assert_consistent(&idx);
            }
        }
    }

    #[test]
    fn an_upload_commit_rewrites_only_what_changed() {
        let (_d, idx) = temp_index();
        let old = sample();
        let mut b = idx.batch();
        b.transition(None, Some(&old)).unwrap();
        assert_eq!(b.len(), 6, "record, listing, one filter, expiry, project and user usage");
        b.commit(false).unwrap();
        let mut new = old.clone();
        new.uploaded_at = Some(Timestamp(5));
        new.location = Some(Location::Segment { segment: SegmentId(1), offset: 0 });
        let mut b = idx.batch();
        b.transition(Some(&old), Some(&new)).unwrap();
        assert_eq!(b.len(), 3, "the record, its expiry row gone, its segment counter");
        b.commit(false).unwrap();
        assert_eq!(idx.segment_live(SegmentId(1)).unwrap(), Counter { bytes: old.size_bytes as i64 + 72, count: 1 });
        assert_eq!(idx.project_usage(&old.project_id).unwrap(), Counter { bytes: old.size_bytes as i64, count: 1 });
    }
}
