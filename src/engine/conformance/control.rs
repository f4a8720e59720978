//! What every catalog's control plane must do: each kind of change lands, in order, and
//! reads back; aliases and parents belong to one project, and a change that would move one is
//! refused whole.

use crate::clock::Timestamp;
use crate::engine::CatalogError;
use crate::ids::{AppId, ClientEventId, EndUserId, EventId, KeyId, TeamId, UserId};
use crate::model::ParentKind;
use crate::model::control::{
    AdminToken, AliasKind, ApiKey, App, ControlChange, EventLink, KeyKind, Parent, Role, Team, User,
};

use super::Fixture;

/// Every kind of control change lands, in order, and reads back; keys are found by the hash of
/// their secret; memberships read both ways; removals remove.
pub fn control_changes_land_whole_and_read_back(f: &dyn Fixture) {
    let c = f.catalog();
    let now = Timestamp(10);
    let team = Team { id: TeamId::random(), name: "t".into(), created_at: now };
    let project = c.project(&f.project(None, None)).unwrap().unwrap();
    let app = App {
        id: AppId::random(),
        project_id: project.id,
        team_id: team.id,
        name: "a".into(),
        created_at: now,
        deleted_at: None,
    };
    let key = ApiKey {
        id: KeyId::random(),
        kind: KeyKind::Client,
        name: "k".into(),
        team_id: team.id,
        app_id: Some(app.id),
        permissions: vec!["events:write".into()],
        secret_prefix: "ak_".into(),
        secret_sha256: "00".repeat(32),
        created_at: now,
        revoked_at: None,
        expires_at: None,
        user_id: None,
        project_id: None,
    };
    let (secret, token_hash) = ([7u8; 32], [9u8; 32]);
    let (alice, al) = (UserId("alice".into()), UserId("al".into()));
    let ce = ClientEventId::random();
    let link = EventLink { event_id: EventId::random(), issue_id: None, owner: Some(EndUserId("u".into())) };
    c.apply_control(vec![
        ControlChange::PutTeam(team.clone()),
        ControlChange::PutApp(app.clone()),
        ControlChange::PutApiKey { key: key.clone(), secret_sha256: secret },
        ControlChange::PutAdminToken { sha256: token_hash, token: AdminToken { name: "ops".into(), created_at: now } },
        ControlChange::PutMember { team: team.id, user: alice.clone(), role: Role::Owner },
        ControlChange::PutMember { team: team.id, user: al.clone(), role: Role::Member },
        ControlChange::PutMarker { name: "m".into(), value: serde_json::json!({"at": 1}) },
        ControlChange::PutEventLink { app: app.id, client_event_id: ce, link: link.clone() },
    ])
    .unwrap();
    assert_eq!(c.team(&team.id).unwrap(), Some(team.clone()));
    assert!(c.teams().unwrap().contains(&team));
    assert!(c.projects().unwrap().contains(&project));
    assert_eq!(c.app(&app.id).unwrap(), Some(app.clone()));
    assert!(c.apps().unwrap().contains(&app));
    assert_eq!(c.api_key(&key.id).unwrap(), Some(key.clone()));
    assert_eq!(c.api_key_by_hash(&secret).unwrap(), Some(key.clone()));
    assert_eq!(c.api_key_by_hash(&[8u8; 32]).unwrap(), None);
    assert!(c.api_keys().unwrap().contains(&key));
    assert_eq!(c.admin_token(&token_hash).unwrap().map(|t| t.name), Some("ops".into()));
    assert!(c.admin_tokens().unwrap().iter().any(|(h, _)| *h == token_hash));
    let mut members = c.members(&team.id).unwrap();
    members.sort();
    assert_eq!(members, vec![(al.clone(), Role::Member), (alice.clone(), Role::Owner)]);
    assert_eq!(c.memberships(&al).unwrap(), vec![(team.id, Role::Member)], "a user id that prefixes another's");
    assert_eq!(c.marker("m").unwrap(), Some(serde_json::json!({"at": 1})));
    assert_eq!(c.event_link(&app.id, &ce).unwrap(), Some(link));
    assert_eq!(c.event_link(&AppId::random(), &ce).unwrap(), None, "links are per app");

    let mut revoked = key.clone();
    revoked.revoked_at = Some(now);
    c.apply_control(vec![
        ControlChange::UpdateApiKey(revoked.clone()),
        ControlChange::DeleteAdminToken(token_hash),
        ControlChange::DeleteMember { team: team.id, user: alice.clone() },
        ControlChange::DeleteMarker("m".into()),
    ])
    .unwrap();
    assert_eq!(c.api_key_by_hash(&secret).unwrap(), Some(revoked), "an updated key keeps its lookup");
    assert_eq!(c.admin_token(&token_hash).unwrap(), None);
    assert!(c.memberships(&alice).unwrap().is_empty());
    assert_eq!(c.members(&team.id).unwrap(), vec![(al, Role::Member)]);
    assert_eq!(c.marker("m").unwrap(), None);
}

/// Users are created and updated; an alias names one project (renaming the same project is a
/// no-op, another project's is a conflict); a parent belongs to one project, is listed under it,
/// updates in place and is unregistered; a refused call changes nothing.
pub fn users_aliases_and_parents_belong_to_one_project(f: &dyn Fixture) {
    let c = f.catalog();
    let (p1, p2) = (f.project(None, None), f.project(None, None));
    let id = UserId(format!("user-{}", p1));
    let mut ann = User {
        id: id.clone(),
        name: "Ann".into(),
        email: "ann@example.com".into(),
        created_at: Timestamp(1),
        updated_at: Timestamp(1),
    };
    c.apply_control(vec![ControlChange::PutUser(ann.clone())]).unwrap();
    assert_eq!(c.user(&id).unwrap(), Some(ann.clone()));
    ann.name = "Ann B".into();
    ann.updated_at = Timestamp(2);
    c.apply_control(vec![ControlChange::PutUser(ann.clone())]).unwrap();
    assert_eq!(c.user(&id).unwrap(), Some(ann.clone()), "updated in place");
    assert_eq!(c.user(&UserId("nobody".into())).unwrap(), None);

    let slug = format!("space-{p1}");
    let alias = |project| ControlChange::PutAlias { kind: AliasKind::SpaceSlug, value: slug.clone(), project };
    c.apply_control(vec![alias(p1)]).unwrap();
    c.apply_control(vec![alias(p1)]).unwrap();
    assert_eq!(c.alias(AliasKind::SpaceSlug, &slug).unwrap(), Some(p1));
    assert_eq!(c.alias(AliasKind::ProjectNumber, &slug).unwrap(), None, "aliases are per kind");
    assert!(matches!(c.apply_control(vec![alias(p2)]), Err(CatalogError::Conflict(_))));
    assert_eq!(c.alias(AliasKind::SpaceSlug, &slug).unwrap(), Some(p1), "the refused call changed nothing");

    let parent = |project, id: &str, owner: Option<&UserId>| Parent {
        project_id: project,
        kind: ParentKind::Ticket,
        id: id.into(),
        owner: owner.cloned(),
        created_at: Timestamp(3),
        updated_at: Timestamp(3),
    };
    let t1 = format!("t1-{p1}");
    let t2 = format!("t2-{p1}");
    c.apply_control(vec![
        ControlChange::PutParent(parent(p1, &t1, Some(&id))),
        ControlChange::PutParent(parent(p1, &t2, None)),
    ])
    .unwrap();
    assert_eq!(c.parent(ParentKind::Ticket, &t1).unwrap(), Some(parent(p1, &t1, Some(&id))));
    assert_eq!(c.parent(ParentKind::Product, &t1).unwrap(), None, "parents are per kind");
    let listed: Vec<String> = c.parents(&p1).unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(listed, vec![t1.clone(), t2.clone()]);
    assert!(c.parents(&p2).unwrap().is_empty());
    let refused = c.apply_control(vec![
        ControlChange::PutParent(parent(p2, &format!("t3-{p1}"), None)),
        ControlChange::PutParent(parent(p2, &t1, None)),
    ]);
    assert!(matches!(refused, Err(CatalogError::Conflict(_))), "{refused:?}");
    assert!(c.parents(&p2).unwrap().is_empty(), "nothing of a refused call lands");
    c.apply_control(vec![ControlChange::PutParent(parent(p1, &t2, Some(&id)))]).unwrap();
    assert_eq!(c.parent(ParentKind::Ticket, &t2).unwrap().and_then(|p| p.owner), Some(id.clone()), "updated");
    c.apply_control(vec![
        ControlChange::DeleteParent { kind: ParentKind::Ticket, id: t1.clone() },
        ControlChange::DeleteParent { kind: ParentKind::Ticket, id: "never-registered".into() },
    ])
    .unwrap();
    assert_eq!(c.parent(ParentKind::Ticket, &t1).unwrap(), None);
    assert_eq!(c.parents(&p1).unwrap().len(), 1);
    c.apply_control(vec![ControlChange::PutParent(parent(p2, &t1, None))]).unwrap();
    assert_eq!(c.parents(&p2).unwrap().len(), 1, "an unregistered id can be registered elsewhere");
}
