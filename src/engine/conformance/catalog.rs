//! What every [`Catalog`] must do with records: reserve and its quota checks, transitions and
//! the rows and counters they move, listing pages, scans.

use crate::clock::Timestamp;
use crate::engine::{CatalogError, Durability, ReserveLimits};
use crate::ids::{AttachmentId, EndUserId, ProjectId, SegmentId};
use crate::model::control::ControlChange;
pub use crate::model::example::reservation;
use crate::model::{After, Attachment, Location};

use super::{Fixture, LIMITS};

fn uploaded(r: &Attachment) -> Attachment {
    let mut u = r.clone();
    u.uploaded_at = Some(Timestamp(r.created_at.0 + 1));
    u.location = Some(Location::Segment { segment: SegmentId(1), offset: 0 });
    u
}

fn deleted(r: &Attachment, at: u64) -> Attachment {
    let mut d = r.clone();
    d.deleted_at = Some(Timestamp(at));
    d
}

/// A reservation is readable, counted (project and owner, by declared size), pending and listed.
pub fn reserve_records_and_counts(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let r = reservation(p, Some("u1"), 1000, 10);
    c.reserve(&r, &LIMITS, None).unwrap();
    assert_eq!(c.record(r.id).unwrap(), Some(r.clone()), "the record reads back exactly");
    assert_eq!((c.usage(&p, None).unwrap().bytes, c.usage(&p, None).unwrap().count), (1000, 1));
    assert_eq!(c.usage(&p, Some(&EndUserId("u1".into()))).unwrap().bytes, 1000);
    assert_eq!(c.usage(&p, Some(&EndUserId("u2".into()))).unwrap().bytes, 0);
    assert_eq!(c.pending(Some(&p)).count, 1);
    let rows: Vec<_> = c.list_project(&p, After::Start).map(Result::unwrap).collect();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r.id]);
    let under: Vec<_> = c.list_parent(&r.parents[0], After::Start).map(Result::unwrap).collect();
    assert_eq!(under.len(), 1);
    assert_eq!(under[0].1, p);
}

/// The owner's quota is checked before the project's; a refusal records nothing.
pub fn quota_refusals_in_order(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(Some(1000), Some(600)));
    c.reserve(&reservation(p, Some("u1"), 500, 1), &LIMITS, None).unwrap();
    let both = reservation(p, Some("u1"), 600, 2);
    assert!(matches!(c.reserve(&both, &LIMITS, None), Err(CatalogError::UserQuota { quota: 600, used: 500 })));
    let project_only = reservation(p, Some("u2"), 501, 3);
    assert!(matches!(
        c.reserve(&project_only, &LIMITS, None),
        Err(CatalogError::ProjectQuota { quota: 1000, used: 500 })
    ));
    assert!(c.record(both.id).unwrap().is_none() && c.record(project_only.id).unwrap().is_none());
    assert_eq!(c.usage(&p, None).unwrap().bytes, 500);
    // Exactly full is allowed.
    c.reserve(&reservation(p, None, 500, 4), &LIMITS, None).unwrap();
    assert_eq!(c.usage(&p, None).unwrap().bytes, 1000);
}

/// Many threads reserving against a nearly full quota admit exactly what fits.
pub fn concurrent_reserves_never_overshoot(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(Some(10 * 100), None));
    let admitted: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let c = c.clone();
                s.spawn(move || {
                    (0..25)
                        .filter(|i| c.reserve(&reservation(p, None, 100, t * 100 + i), &LIMITS, None).is_ok())
                        .count()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(admitted, 10, "exactly the quota's worth is admitted");
    assert_eq!(c.usage(&p, None).unwrap().bytes, 1000);
}

/// The pending caps refuse by count, by size and by bytes, in that order.
pub fn pending_caps(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let limits = ReserveLimits { max_pending_count: 2, max_pending_bytes: 1000, ..LIMITS };
    c.reserve(&reservation(p, None, 600, 1), &limits, None).unwrap();
    assert!(matches!(c.reserve(&reservation(p, None, 1001, 2), &limits, None), Err(CatalogError::TooLarge { .. })));
    assert!(matches!(
        c.reserve(&reservation(p, None, 500, 3), &limits, None),
        Err(CatalogError::TooManyPending { what: "bytes" })
    ));
    let second = reservation(p, None, 400, 4);
    c.reserve(&second, &limits, None).unwrap();
    assert!(matches!(
        c.reserve(&reservation(p, None, 1, 5), &limits, None),
        Err(CatalogError::TooManyPending { what: "count" })
    ));
    // An upload frees a pending slot.
    assert!(c.update(&second, Some(&uploaded(&second)), Durability::Synced).unwrap());
    c.reserve(&reservation(p, None, 1, 6), &limits, None).unwrap();
}

/// Upload, soft delete and reclaim: listing, usage and pending follow each state.
pub fn transitions_move_rows_and_counters(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let r = reservation(p, Some("u1"), 300, 20);
    c.reserve(&r, &LIMITS, None).unwrap();
    let up = uploaded(&r);
    assert!(c.update(&r, Some(&up), Durability::Synced).unwrap());
    assert_eq!(c.pending(Some(&p)).count, 0);
    assert_eq!(c.usage(&p, None).unwrap().bytes, 300, "uploads stay counted");
    let gone = deleted(&up, 99);
    assert!(c.update(&up, Some(&gone), Durability::Synced).unwrap());
    assert_eq!(c.usage(&p, None).unwrap().bytes, 0, "soft delete releases the quota");
    assert_eq!(c.usage(&p, Some(&EndUserId("u1".into()))).unwrap().bytes, 0);
    assert_eq!(c.list_project(&p, After::Start).count(), 0);
    assert_eq!(c.list_parent(&r.parents[0], After::Start).count(), 0);
    assert!(c.deleted_before(Timestamp(100), 10).unwrap().contains(&(Timestamp(99), r.id)));
    assert!(c.update(&gone, None, Durability::Synced).unwrap());
    assert!(c.record(r.id).unwrap().is_none());
    assert!(!c.deleted_before(Timestamp(100), 10).unwrap().iter().any(|(_, id)| *id == r.id));
    // A discarded reservation releases everything too.
    let d = reservation(p, Some("u1"), 70, 21);
    c.reserve(&d, &LIMITS, None).unwrap();
    assert!(c.update(&d, None, Durability::Logged).unwrap());
    assert_eq!((c.usage(&p, None).unwrap().bytes, c.pending(Some(&p)).count), (0, 0));
}

/// An update from a state that is no longer stored changes nothing.
pub fn stale_updates_are_refused(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let r = reservation(p, None, 10, 30);
    c.reserve(&r, &LIMITS, None).unwrap();
    assert!(c.update(&r, Some(&uploaded(&r)), Durability::Synced).unwrap());
    assert!(!c.update(&r, Some(&deleted(&r, 5)), Durability::Synced).unwrap(), "stale: it was uploaded");
    assert!(!c.update(&r, None, Durability::Synced).unwrap());
    assert_eq!(c.record(r.id).unwrap(), Some(uploaded(&r)));
    let ghost = reservation(p, None, 10, 31);
    assert!(!c.update(&ghost, None, Durability::Synced).unwrap(), "absent records are stale too");
}

/// Of many concurrent deletes of one record, exactly one succeeds and usage drops once.
pub fn concurrent_deletes_win_once(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let r = reservation(p, None, 50, 40);
    c.reserve(&r, &LIMITS, None).unwrap();
    let wins: usize = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8u64)
            .map(|t| {
                let (c, r) = (c.clone(), r.clone());
                s.spawn(move || usize::from(c.update(&r, Some(&deleted(&r, 100 + t)), Durability::Synced).unwrap()))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(wins, 1);
    assert_eq!(c.usage(&p, None).unwrap(), Default::default());
}

/// Newest first, ties by smaller id first, and a page boundary (`After::Row`) never skips or repeats.
pub fn listing_pages_neither_skip_nor_repeat(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let mut all = Vec::new();
    for i in 0..25u64 {
        let r = reservation(p, None, 1, 1000 + i / 3); // three share each instant
        c.reserve(&r, &LIMITS, None).unwrap();
        all.push(r);
    }
    let mut seen = Vec::new();
    let mut after = After::Start;
    loop {
        let page: Vec<_> = c.list_project(&p, after).take(4).map(Result::unwrap).collect();
        let Some(last) = page.last() else { break };
        after = After::Row(last.created_at, last.id);
        seen.extend(page);
    }
    assert_eq!(seen.len(), all.len());
    let key = |r: &crate::model::TimelineRow| (std::cmp::Reverse(r.created_at), r.id);
    assert!(seen.windows(2).all(|w| key(&w[0]) < key(&w[1])), "newest first, ties by smaller id: {seen:?}");
    let older: Vec<_> = c.list_project(&p, After::OlderThan(Timestamp(1002))).map(Result::unwrap).collect();
    assert_eq!(older.len(), 6, "two instants of three rows each");
}

/// Lapsed reservations and soft-deleted records are found by deadline, oldest first; a stale
/// reclaim entry can be forgotten.
pub fn lapsed_and_deleted_scans(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    let mut early = reservation(p, None, 1, 1);
    early.expires_at = Timestamp(5);
    let mut later = reservation(p, None, 1, 1);
    later.expires_at = Timestamp(7);
    c.reserve(&later, &LIMITS, None).unwrap();
    c.reserve(&early, &LIMITS, None).unwrap();
    let due = c.lapsed(Timestamp(8), 100).unwrap();
    let ours: Vec<_> = due.iter().filter(|(_, id)| *id == early.id || *id == later.id).collect();
    assert_eq!(ours, vec![&(Timestamp(5), early.id), &(Timestamp(7), later.id)]);
    assert!(!c.lapsed(Timestamp(6), 100).unwrap().iter().any(|(_, id)| *id == later.id));
    let up = uploaded(&early);
    assert!(c.update(&early, Some(&up), Durability::Synced).unwrap());
    assert!(!c.lapsed(Timestamp(8), 100).unwrap().iter().any(|(_, id)| *id == early.id), "uploaded: not lapsed");
    c.forget_deleted(Timestamp(3), AttachmentId::random()).unwrap();
}

/// A deleted project takes no reservation.
pub fn deleted_projects_take_no_reservations(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(None, None));
    f.delete_project(p);
    assert!(matches!(c.reserve(&reservation(p, None, 1, 1), &LIMITS, None), Err(CatalogError::ProjectGone)));
    let unknown = ProjectId::random();
    assert!(matches!(c.reserve(&reservation(unknown, None, 1, 1), &LIMITS, None), Err(CatalogError::ProjectGone)));
}

/// A project's new quota holds for the very next reserve (no stale copy of the project); a
/// quota change leaves the other override as it was, and a change reads the result of an
/// earlier one in the same call.
pub fn quota_changes_reach_the_next_reserve(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(Some(1000), Some(900)));
    c.reserve(&reservation(p, None, 800, 1), &LIMITS, None).unwrap();
    c.apply_control(vec![ControlChange::SetQuotas { project: p, project_bytes: Some(Some(500)), user_bytes: None }])
        .unwrap();
    assert!(
        matches!(
            c.reserve(&reservation(p, None, 1, 2), &LIMITS, None),
            Err(CatalogError::ProjectQuota { quota: 500, .. })
        ),
        "the lowered quota refuses"
    );
    let project = c.project(&p).unwrap().unwrap();
    assert_eq!((project.project_quota_bytes, project.user_quota_bytes), (Some(500), Some(900)));
    let mut renamed = project.clone();
    renamed.name = "renamed".into();
    c.apply_control(vec![
        ControlChange::PutProject(renamed),
        ControlChange::SetQuotas { project: p, project_bytes: None, user_bytes: Some(None) },
    ])
    .unwrap();
    let project = c.project(&p).unwrap().unwrap();
    assert_eq!((project.name.as_str(), project.user_quota_bytes), ("renamed", None), "both changes of one call land");
    c.apply_control(vec![ControlChange::SetQuotas { project: p, project_bytes: Some(None), user_bytes: None }])
        .unwrap();
    c.reserve(&reservation(p, None, 1, 3), &LIMITS, None).expect("back to the default quota");
}
