//! The host application's entities through the admin API: users, user-bound keys, project
//! aliases and registered parents — validation, ownership conflicts, and that they survive a
//! restart.

use reqwest::Method;
use serde_json::json;

use crate::harness::Daemon;

/// The bootstrap project's id.
async fn project_id(d: &Daemon) -> String {
    let (_, v) = d.admin(Method::GET, "projects", None).await;
    v["projects"][0]["id"].as_str().unwrap().to_string()
}

/// A second project in the bootstrap team.
async fn second_project(d: &Daemon) -> String {
    let (_, teams) = d.admin(Method::GET, "teams", None).await;
    let team = teams["teams"][0]["id"].as_str().unwrap().to_string();
    let (s, p) = d.admin(Method::POST, &format!("teams/{team}/projects"), Some(json!({"name": "other"}))).await;
    assert_eq!(s, 201);
    p["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_user_keys() {
    let d = Daemon::start().await;
    let p = project_id(&d).await;
    let (s, u) =
        d.admin(Method::PUT, "users/ann%40example.com", Some(json!({"name": "Ann", "email": "ann@example.com"}))).await;
    assert_eq!((s, u["id"].as_str(), u["name"].as_str()), (200, Some("ann@example.com"), Some("Ann")));
    let created = u["created_at"].clone();
    let (s, u) = d
        .admin(Method::PUT, "users/ann%40example.com", Some(json!({"name": "Ann B", "email": "ann@example.com"})))
        .await;
    assert_eq!((s, u["name"].as_str(), &u["created_at"]), (200, Some("Ann B"), &created), "updated in place");
    for (body, want) in [
        (json!({"name": "", "email": "a@b"}), "name must be 1-200 printable characters"),
        (json!({"name": "A", "email": "not-an-address"}), "email must be an address like name@example.com"),
    ] {
        let (s, v) = d.admin(Method::PUT, "users/x", Some(body)).await;
        assert_eq!((s, v["error"].as_str()), (400, Some(want)));
    }
    let (s, _) = d.admin(Method::PUT, "users/x", Some(json!({"name": "A"}))).await;
    assert_eq!(s, 400, "email is required");

    let (s, k) = d
        .admin(Method::POST, "keys", Some(json!({"kind": "user", "user_id": "ann@example.com", "project_id": p})))
        .await;
    assert_eq!(s, 201, "{k}");
    assert_eq!((k["key"]["kind"].as_str(), k["key"]["user_id"].as_str()), (Some("user"), Some("ann@example.com")));
    assert!(k["key"]["permissions"].as_array().unwrap().is_empty());
    let secret = k["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("attachd_user_"));
    // A user key is not a seed-000 credential.
    let (s, _) = d.get(&secret, "/v1/attachments").await;
    assert_eq!(s, 401);
    let (s, v) =
        d.admin(Method::POST, "keys", Some(json!({"kind": "user", "user_id": "nobody", "project_id": p}))).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("User not found")));
    let (s, _) = d.admin(Method::POST, "keys", Some(json!({"kind": "user", "user_id": "ann@example.com"}))).await;
    assert_eq!(s, 400, "a user key needs its project");
    let (s, _) =
        d.admin(Method::POST, "keys", Some(json!({"kind": "agent", "team_id": p, "user_id": "ann@example.com"}))).await;
    assert_eq!(s, 400, "only user keys take a user");
}

#[tokio::test(flavor = "multi_thread")]
async fn aliases_name_one_project() {
    let d = Daemon::start().await;
    let (p1, p2) = (project_id(&d).await, second_project(&d).await);
    let (s, v) = d.admin(Method::PUT, &format!("projects/{p1}/aliases/space_slug/acme-shop"), None).await;
    assert_eq!((s, v["value"].as_str()), (200, Some("acme-shop")));
    let (s, _) = d.admin(Method::PUT, &format!("projects/{p1}/aliases/space_slug/acme-shop"), None).await;
    assert_eq!(s, 200, "idempotent");
    let (s, v) = d.admin(Method::PUT, &format!("projects/{p2}/aliases/space_slug/acme-shop"), None).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = d.admin(Method::PUT, &format!("projects/{p2}/aliases/project_number/0042"), None).await;
    assert_eq!((s, v["value"].as_str()), (200, Some("42")), "stored in canonical form");
    let (s, _) = d.admin(Method::PUT, &format!("projects/{p1}/aliases/project_number/42"), None).await;
    assert_eq!(s, 409);
    for bad in ["space_slug/Acme", "space_slug/a%20b", "project_number/-1", "project_number/x"] {
        let (s, _) = d.admin(Method::PUT, &format!("projects/{p1}/aliases/{bad}"), None).await;
        assert_eq!(s, 400, "{bad}");
    }
    let (s, _) = d.admin(Method::PUT, &format!("projects/{}/aliases/space_slug/new", uuid::Uuid::new_v4()), None).await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn parents_belong_to_one_project_and_survive_a_restart() {
    let mut d = Daemon::start().await;
    let (p1, p2) = (project_id(&d).await, second_project(&d).await);
    d.admin(Method::PUT, "users/owner-1", Some(json!({"name": "O", "email": "o@example.com"}))).await;
    let put = |p: &str, kind: &str, id: &str| format!("projects/{p}/parents/{kind}/{id}");
    let (s, v) = d.admin(Method::PUT, &put(&p1, "product", "sku-1"), None).await;
    assert_eq!((s, v["kind"].as_str(), v["id"].as_str()), (200, Some("product"), Some("sku-1")));
    let (s, v) = d.admin(Method::PUT, &put(&p1, "ticket", "T%2F7"), Some(json!({"owner": "owner-1"}))).await;
    assert_eq!((s, v["id"].as_str(), v["owner"].as_str()), (200, Some("T/7"), Some("owner-1")));
    let (s, v) = d.admin(Method::PUT, &put(&p1, "ticket", "T8"), None).await;
    assert_eq!((s, v["error"].as_str()), (400, Some("a ticket needs an owner")));
    let (s, v) = d.admin(Method::PUT, &put(&p1, "ticket", "T8"), Some(json!({"owner": "ghost"}))).await;
    assert_eq!((s, v["error"].as_str()), (404, Some("User not found")));
    let (s, _) = d.admin(Method::PUT, &put(&p1, "asset", "a1"), Some(json!({"owner": "owner-1"}))).await;
    assert_eq!(s, 400, "only tickets have owners");
    let (s, _) = d.admin(Method::PUT, &put(&p2, "product", "sku-1"), None).await;
    assert_eq!(s, 409, "a parent belongs to one project");
    let (s, _) = d.admin(Method::PUT, &put(&p1, "session_point", "x"), None).await;
    assert_eq!(s, 400);

    d.restart().await;
    let (s, v) = d.admin(Method::GET, &format!("projects/{p1}/parents"), None).await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = v["parents"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["sku-1", "T/7"], "by kind (product, then ticket), then id");
    let (s, _) = d.admin(Method::DELETE, &put(&p2, "product", "sku-1"), None).await;
    assert_eq!(s, 404, "not registered in that project");
    let (s, _) = d.admin(Method::DELETE, &put(&p1, "product", "sku-1"), None).await;
    assert_eq!(s, 200);
    let (s, _) = d.admin(Method::PUT, &put(&p2, "product", "sku-1"), None).await;
    assert_eq!(s, 200, "free again once unregistered");
    let (_, v) = d.admin(Method::GET, &format!("projects/{p1}/parents"), None).await;
    assert_eq!(v["parents"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_cli_registers_users_aliases_and_parents() {
    let d = Daemon::start().await;
    let p = project_id(&d).await;
    let cli = |args: &[&str]| crate::admin::cli(&d, args);
    let (ok, u, err) = cli(&["put-user", "--id", "bob@example.com", "--name", "Bob", "--email", "bob@example.com"]);
    assert!(ok, "{err}");
    assert_eq!(u["name"], "Bob");
    let (ok, k, err) = cli(&["create-key", "--kind", "user", "--user", "bob@example.com", "--project", &p]);
    assert!(ok, "{err}");
    assert_eq!(k["key"]["user_id"], "bob@example.com");
    let (ok, a, err) = cli(&["set-alias", "--project", &p, "--kind", "project_number", "--value", "7"]);
    assert!(ok, "{err}");
    assert_eq!(a["value"], "7");
    let (ok, _, err) =
        cli(&["put-parent", "--project", &p, "--kind", "ticket", "--id", "T 1/2", "--owner", "bob@example.com"]);
    assert!(ok, "{err}");
    let (ok, v, _) = cli(&["parents", "--project", &p]);
    assert!(ok);
    assert_eq!(v["parents"][0]["id"], "T 1/2", "ids with spaces and slashes travel percent-encoded");
    let (ok, _, err) = cli(&["delete-parent", "--project", &p, "--kind", "ticket", "--id", "T 1/2"]);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(&["put-parent", "--project", &p, "--kind", "ticket", "--id", "T9"]);
    assert!(!ok && err.contains("400"), "{err}");
}
