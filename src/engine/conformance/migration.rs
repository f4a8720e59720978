//! What every backend must offer a migration: its control plane exported as the changes that
//! recreate it, and its records read in id order and written back exactly as they are.

use std::collections::HashSet;

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, EndUserId, TeamId};
use crate::model::control::{AdminToken, ControlChange, Role, Team};
use crate::model::example::reservation;
use crate::model::{After, Location};

use super::Fixture;

/// Every change applied is in the export, as applied (secret hashes included).
pub fn the_control_plane_exports_as_the_changes_that_made_it(f: &dyn Fixture) {
    let c = f.catalog();
    let project = c.project(&f.project(Some(5), None)).unwrap().unwrap();
    let team = Team { id: TeamId::random(), name: "exported".into(), created_at: Timestamp(3) };
    let applied = vec![
        ControlChange::PutTeam(team.clone()),
        ControlChange::PutMember { team: team.id, user: crate::ids::UserId("ex".into()), role: Role::Admin },
        ControlChange::PutAdminToken {
            sha256: [42; 32],
            token: AdminToken { name: "ex".into(), created_at: Timestamp(4) },
        },
        ControlChange::PutMarker { name: "exported".into(), value: serde_json::json!([1, 2]) },
    ];
    c.apply_control(applied.clone()).unwrap();
    let exported = c.export_control().unwrap();
    for change in applied.iter().chain([&ControlChange::PutProject(project)]) {
        assert!(exported.contains(change), "the export lacks {change:?}");
    }
}

/// Imported records read back exactly, count in usage and listings as reserved ones do, are
/// not imported twice, and are all read back in id order a page at a time.
pub fn records_import_exactly_and_read_back_in_id_order(f: &dyn Fixture) {
    let (c, p) = (f.catalog(), f.project(Some(10), Some(10)));
    let mut recs = Vec::new();
    for i in 0..5u64 {
        // Over the quota on purpose: an import is not a reservation.
        let mut r = reservation(p, Some("imp"), 1_000 + i, 100 + i);
        if i % 2 == 0 {
            r.uploaded_at = Some(Timestamp(200 + i));
            r.location = Some(Location::Standalone { month: 202612, crc32c: Some(7) });
        }
        if i == 4 {
            r.deleted_at = Some(Timestamp(300));
        }
        assert!(c.import(&r).unwrap(), "imported");
        assert!(!c.import(&r).unwrap(), "a second import changes nothing");
        assert_eq!(c.record(r.id).unwrap(), Some(r.clone()), "reads back exactly");
        recs.push(r);
    }
    let live: u64 = recs.iter().filter(|r| r.deleted_at.is_none()).map(|r| r.size_bytes).sum();
    assert_eq!(c.usage(&p, None).unwrap().bytes_u64(), live, "usage counts live imports");
    assert_eq!(c.usage(&p, Some(&EndUserId("imp".into()))).unwrap().bytes_u64(), live);
    assert_eq!(c.pending(Some(&p)).count, 2, "pending imports are pending");
    assert_eq!(c.list_project(&p, After::Start).count(), 4, "live imports are listed");
    let mut seen = Vec::new();
    let mut after: Option<AttachmentId> = None;
    loop {
        let page = c.records_after(after, 3).unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "records come in id order");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len(), "no record twice");
    for r in &recs {
        assert!(seen.contains(&r.id), "every record is read back");
    }
}
