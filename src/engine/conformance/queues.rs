//! What every [`crate::engine::Catalog`] must do with its queues: the scan queue (uploaded,
//! live, scan pending) and the removal deadlines of ephemeral files, both derived from records;
//! and the outbox of notices, written with the change each announces; and a project's webhook.

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

/// A notice is queued exactly when its change commits, read back oldest first, and removed
/// once sent; a project's webhook and upload policy are set, read and removed through the
/// control plane.
pub fn notices_commit_with_their_change(f: &dyn Fixture) {
    use crate::model::control::ControlChange;
    use crate::model::{FileEvent, Notice, Webhook};
    let (c, p) = (f.catalog(), f.project(None, None));
    let r = reservation(p, None, 5, 1);
    c.reserve(&r, &LIMITS, None).unwrap();
    let n1 = Notice { at: Timestamp(20), file: r.id, project: p, event: FileEvent::Infected };
    let mut changed = r.clone();
    changed.scan = ScanState::Infected("x".into());
    assert!(c.update_noting(&r, Some(&changed), Durability::Logged, &n1).unwrap());
    let n0 = Notice { at: Timestamp(10), file: r.id, project: p, event: FileEvent::Processed };
    assert!(!c.update_noting(&r, Some(&changed), Durability::Logged, &n0).unwrap(), "a stale change");
    let mine = || -> Vec<Notice> { c.notices(1000).unwrap().into_iter().filter(|n| n.project == p).collect() };
    assert_eq!(mine(), vec![n1], "the refused change queued nothing");
    let n2 = Notice { at: Timestamp(5), file: r.id, project: p, event: FileEvent::Failed };
    let mut again = changed.clone();
    again.scan = ScanState::Failed("y".into());
    assert!(c.update_noting(&changed, Some(&again), Durability::Logged, &n2).unwrap());
    assert_eq!(mine(), vec![n2, n1], "oldest first");
    c.notice_sent(&n2).unwrap();
    assert_eq!(mine(), vec![n1]);

    assert_eq!(c.webhook(&p).unwrap(), None);
    let hook =
        Webhook { project_id: p, url: "http://127.0.0.1:9/h".into(), secret: "s".into(), created_at: Timestamp(1) };
    c.apply_control(vec![ControlChange::SetWebhook { project: p, webhook: Some(hook.clone()) }]).unwrap();
    assert_eq!(c.webhook(&p).unwrap(), Some(hook));
    c.apply_control(vec![ControlChange::SetWebhook { project: p, webhook: None }]).unwrap();
    assert_eq!(c.webhook(&p).unwrap(), None);
    let policy = crate::model::UploadPolicy { max_bytes: Some(7), allowed_types: None, upload_url_ttl_secs: Some(9) };
    assert_eq!(c.upload_policy(&p).unwrap(), None);
    c.apply_control(vec![ControlChange::SetUploadPolicy { project: p, policy: Some(policy.clone()) }]).unwrap();
    assert_eq!(c.upload_policy(&p).unwrap(), Some(policy));
    c.apply_control(vec![ControlChange::SetUploadPolicy { project: p, policy: None }]).unwrap();
    assert_eq!(c.upload_policy(&p).unwrap(), None);
}
