//! Who may do what: keys, JWTs, revocation, and isolation between teams and apps.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Daemon, reserve_body};

/// Makes `user` a `role` of `team` and returns a JWT for them.
pub async fn user_jwt(d: &Daemon, user: &str, team: &str, role: &str) -> String {
    let (s, v) = d.admin(Method::PUT, &format!("teams/{team}/members/{user}"), Some(json!({"role": role}))).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = d.admin(Method::POST, "jwt", Some(json!({"sub": user}))).await;
    assert_eq!(s, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

/// A second team with its own project, app, client key and agent key.
pub struct OtherTeam {
    pub team: String,
    pub project: String,
    pub client_key: String,
    pub agent_key: String,
}

pub async fn other_team(d: &Daemon) -> OtherTeam {
    let (_, t) = d.admin(Method::POST, "teams", Some(json!({"name": "other"}))).await;
    let team = t["id"].as_str().unwrap().to_string();
    let (_, p) = d.admin(Method::POST, &format!("teams/{team}/projects"), Some(json!({"name": "p2"}))).await;
    let project = p["id"].as_str().unwrap().to_string();
    let (_, a) = d.admin(Method::POST, &format!("projects/{project}/apps"), Some(json!({"name": "a2"}))).await;
    let app = a["id"].as_str().unwrap().to_string();
    let (s, k) = d.admin(Method::POST, "keys", Some(json!({"kind": "client", "app_id": app}))).await;
    assert_eq!(s, 201, "{k}");
    let client_key = k["secret"].as_str().unwrap().to_string();
    let (_, k) = d
        .admin(
            Method::POST,
            "keys",
            Some(json!({"kind": "agent", "team_id": team, "permissions": ["events:read", "events:write"]})),
        )
        .await;
    let agent_key = k["secret"].as_str().unwrap().to_string();
    OtherTeam { team, project, client_key, agent_key }
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_checked_with_the_reference_messages() {
    let d = Daemon::start().await;
    let url = d.url("/v1/attachments");
    let r = d.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "Missing authorization");
    let r = d.http.get(&url).header("authorization", "Basic abc").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "Invalid authorization format");
    let (s, v) = d.get("owl_client_0000", "/v1/attachments").await;
    assert_eq!((s, v["error"].as_str().unwrap()), (401, "Invalid API key"));
    let (s, v) = d.get("not.a.jwt", "/v1/attachments").await;
    assert_eq!((s, v["error"].as_str().unwrap()), (401, "Invalid or expired token"));
    // A cookie is never a credential (a browser would attach it to cross-site requests).
    let r = d.http.get(&url).header("cookie", format!("token={}", d.agent_key())).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_and_key_scope() {
    let d = Daemon::start().await;
    let (s, v) = d.reserve_json(&d.agent_key(), reserve_body(b"x", None)).await;
    assert_eq!((s, v["error"].as_str().unwrap()), (403, "Missing permission: events:write"));
    let (s, v) = d.get(&d.client_key(), "/v1/attachments").await;
    assert_eq!((s, v["error"].as_str().unwrap()), (403, "Missing permission: events:read"));
    let jwt = user_jwt(&d, "u1", &d.b("team_id"), "member").await;
    let (s, v) = d.reserve_json(&jwt, reserve_body(b"x", None)).await;
    assert_eq!((s, v["error"].as_str().unwrap()), (400, "API key must be scoped to an app"));
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_and_expired_keys_stop_working() {
    let d = Daemon::start().await;
    let (_, k) = d.admin(Method::POST, "keys", Some(json!({"kind": "agent", "team_id": d.b("team_id")}))).await;
    let (secret, id) = (k["secret"].as_str().unwrap().to_string(), k["key"]["id"].as_str().unwrap().to_string());
    assert_eq!(d.get(&secret, "/v1/attachments").await.0, 200);
    let (s, _) = d.admin(Method::DELETE, &format!("keys/{id}"), None).await;
    assert_eq!(s, 200);
    let (s, v) = d.get(&secret, "/v1/attachments").await;
    assert_eq!((s, v["error"].as_str().unwrap()), (401, "Invalid API key"));
    let (_, k) = d
        .admin(Method::POST, "keys", Some(json!({"kind": "agent", "team_id": d.b("team_id"), "expires_in_secs": 1})))
        .await;
    let secret = k["secret"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, v) = d.get(&secret, "/v1/attachments").await;
    assert_eq!((s, v["error"].as_str().unwrap()), (401, "API key expired"));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_teams_attachment_is_a_404_never_a_leak() {
    let d = Daemon::start().await;
    let other = other_team(&d).await;
    let id = d.upload(b"team one's secret").await;
    let pending = d.reserve(b"pending", None).await;
    for key in [&other.agent_key] {
        assert_eq!(d.get(key, &format!("/v1/attachments/{id}")).await.0, 404);
        assert_eq!(d.delete(key, &id).await.0, 404);
        let (_, l) = d.get(key, "/v1/attachments").await;
        assert_eq!(l["attachments"], json!([]));
        let (_, l) = d.get(key, &format!("/v1/attachments?project_id={}", d.b("project_id"))).await;
        assert_eq!(l["attachments"], json!([]));
        let (s, _) = d.get(key, &format!("/v1/projects/{}/attachment-usage", d.b("project_id"))).await;
        assert_eq!(s, 404);
    }
    // Another team's client key cannot upload into this reservation, nor learn that it exists.
    let (s, v) = d.put(&other.client_key, &pending, b"pending".to_vec()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (404, "not_found"), "{v}");
    // A user sees exactly the teams they belong to.
    let outsider = user_jwt(&d, "outsider", &other.team, "owner").await;
    assert_eq!(d.get(&outsider, &format!("/v1/attachments/{id}")).await.0, 404);
    let insider = user_jwt(&d, "insider", &d.b("team_id"), "member").await;
    assert_eq!(d.get(&insider, &format!("/v1/attachments/{id}")).await.0, 200);
    let (_, l) = d.get(&insider, "/v1/attachments").await;
    assert_eq!(l["attachments"].as_array().unwrap().len(), 2);
    // The other team's own project is visible to it.
    assert_eq!(d.get(&other.agent_key, &format!("/v1/projects/{}/attachment-usage", other.project)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_keys_may_delete_only_their_own_apps_attachments() {
    let d = Daemon::start().await;
    let id = d.upload(b"mine").await;
    // A second app in the same project and team.
    let (_, a) =
        d.admin(Method::POST, &format!("projects/{}/apps", d.b("project_id")), Some(json!({"name": "a2"}))).await;
    let (_, k) = d.admin(Method::POST, "keys", Some(json!({"kind": "client", "app_id": a["id"]}))).await;
    let other_app_key = k["secret"].as_str().unwrap().to_string();
    assert_eq!(d.delete(&other_app_key, &id).await.0, 404);
    // Within the team, a PUT with another app's key gets the reference's 403.
    let pending = d.reserve(b"pending", None).await;
    let (s, v) = d.put(&other_app_key, &pending, b"pending".to_vec()).await;
    assert_eq!((s, v["error"].as_str().unwrap()), (403, "Attachment belongs to a different app"));
    let (s, v) = d.delete(&d.client_key(), &id).await;
    assert_eq!((s, v.clone()), (200, json!({"ok": true})), "{v}");
    let (s, v) = d.delete(&d.client_key(), &id).await;
    assert_eq!((s, v["error"].as_str().unwrap()), (404, "Attachment not found"));
}
