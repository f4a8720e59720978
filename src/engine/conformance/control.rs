//! What every catalog's control plane must do: each kind of change lands, in order, and
//! reads back.

use crate::clock::Timestamp;
use crate::ids::{AppId, ClientEventId, EndUserId, EventId, KeyId, TeamId, UserId};
use crate::model::control::{AdminToken, ApiKey, App, ControlChange, EventLink, KeyKind, Role, Team};

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
