//! What every [`crate::engine::Catalog`] must do with the queues derived from records: the scan
//! queue (uploaded, live, scan pending) and the removal deadlines of ephemeral files.

use crate::clock::Timestamp;
use crate::engine::Durability;
use crate::ids::SegmentId;
use crate::model::example::reservation;
use crate::model::{Location, Retention, ScanState};

use super::{Fixture, LIMITS};

/// A file joins the scan queue when it is uploaded with its scan pending, in upload order,
/// and leaves it with its verdict or its deletion; a pending reservation is not queued.
pub fn the_scan_queue_follows_the_records(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let mut ids = Vec::new();
    for (i, uploaded) in [30u64, 10, 20].into_iter().enumerate() {
        let mut r = reservation(p, None, 5, 1 + i as u64);
        r.scan = ScanState::Pending;
        c.reserve(&r, &LIMITS, None).unwrap();
        let ours = |c: &dyn crate::engine::Catalog| -> Vec<_> {
            c.scan_queue(1000).unwrap().into_iter().filter(|(_, id)| *id == r.id).collect()
        };
        assert!(ours(&*c).is_empty(), "a reservation waits for its bytes, not for a scan");
        let mut up = r.clone();
        up.uploaded_at = Some(Timestamp(uploaded));
        up.location = Some(Location::Segment { segment: SegmentId(1), offset: 0 });
        assert!(c.update(&r, Some(&up), Durability::Synced).unwrap());
        assert_eq!(ours(&*c), vec![(Timestamp(uploaded), r.id)]);
        ids.push(up);
    }
    let queue: Vec<_> =
        c.scan_queue(1000).unwrap().into_iter().filter(|(_, id)| ids.iter().any(|r| r.id == *id)).collect();
    let order: Vec<_> = queue.iter().map(|(t, _)| t.0).collect();
    assert_eq!(order, vec![10, 20, 30], "oldest upload first");
    let clean = crate::model::Attachment { scan: ScanState::Clean, ..ids[0].clone() };
    assert!(c.update(&ids[0], Some(&clean), Durability::Logged).unwrap());
    let deleted = crate::model::Attachment { deleted_at: Some(Timestamp(99)), ..ids[1].clone() };
    assert!(c.update(&ids[1], Some(&deleted), Durability::Synced).unwrap());
    let left: Vec<_> = c
        .scan_queue(1000)
        .unwrap()
        .into_iter()
        .map(|(_, id)| id)
        .filter(|id| ids.iter().any(|r| r.id == *id))
        .collect();
    assert_eq!(left, vec![ids[2].id], "a verdict and a deletion take a file out of the queue");
}

/// Files with a removal deadline are found by deadline, in any upload state, until deleted.
pub fn ephemeral_deadlines_are_found_until_deleted(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let mut late = reservation(p, None, 5, 1);
    late.retention = Retention::Until(Timestamp(700));
    let mut early = reservation(p, None, 5, 2);
    early.retention = Retention::Until(Timestamp(600));
    let kept = reservation(p, None, 5, 3);
    for r in [&late, &early, &kept] {
        c.reserve(r, &LIMITS, None).unwrap();
    }
    let mine = |before: u64| -> Vec<_> {
        c.ephemeral_due(Timestamp(before), 1000)
            .unwrap()
            .into_iter()
            .filter(|(_, id)| [late.id, early.id, kept.id].contains(id))
            .collect()
    };
    assert_eq!(mine(701), vec![(Timestamp(600), early.id), (Timestamp(700), late.id)]);
    assert_eq!(mine(650), vec![(Timestamp(600), early.id)], "only deadlines before the bound");
    let deleted = crate::model::Attachment { deleted_at: Some(Timestamp(650)), ..early.clone() };
    assert!(c.update(&early, Some(&deleted), Durability::Synced).unwrap());
    assert_eq!(mine(701), vec![(Timestamp(700), late.id)], "a deleted file has no deadline left");
}
