//! The admin surface: HTTP API and the `attachd admin` CLI, quota overrides, config check.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Daemon, data, reserve_body};

pub(crate) fn cli(d: &Daemon, args: &[&str]) -> (bool, serde_json::Value, String) {
    let url = d.admin_base();
    let token = d.admin_token();
    let mut all = vec!["admin", "--url", &url, "--token", &token];
    all.extend_from_slice(args);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd")).args(&all).output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), v, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_cli_builds_a_tenant_that_can_upload() {
    let d = Daemon::start().await;
    let (ok, team, err) = cli(&d, &["create-team", "--name", "acme"]);
    assert!(ok, "{err}");
    let team_id = team["id"].as_str().unwrap().to_string();
    let (ok, project, _) = cli(&d, &["create-project", "--team", &team_id, "--name", "ios"]);
    assert!(ok);
    let project_id = project["id"].as_str().unwrap().to_string();
    let (ok, app, _) = cli(&d, &["create-app", "--project", &project_id, "--name", "app"]);
    assert!(ok);
    let (ok, key, err) = cli(&d, &["create-key", "--kind", "client", "--app", app["id"].as_str().unwrap()]);
    assert!(ok, "{err}");
    let secret = key["secret"].as_str().unwrap().to_string();
    let (ok, _, _) = cli(&d, &["set-quota", "--project", &project_id, "--project-bytes", "10"]);
    assert!(ok);
    let (s, v) = d.reserve_json(&secret, reserve_body(&data(11, 1), None)).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (413, "quota_exhausted"));
    let (ok, _, _) = cli(&d, &["set-quota", "--project", &project_id, "--project-bytes", "default"]);
    assert!(ok);
    let (s, _) = d.reserve_json(&secret, reserve_body(&data(11, 1), None)).await;
    assert_eq!(s, 201);
    let (ok, keys, _) = cli(&d, &["keys"]);
    assert!(ok);
    let listed = serde_json::to_string(&keys).unwrap();
    assert!(!listed.contains(&secret), "key listings never include secrets");
    // Errors exit non-zero with the server's message.
    let (ok, _, err) = cli(&d, &["create-project", "--team", "nope", "--name", "x"]);
    assert!(!ok);
    assert!(err.contains("400"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_needs_the_admin_token() {
    let d = Daemon::start().await;
    let teams = format!("{}/admin/v1/teams", d.admin_base());
    let r = d.http.get(&teams).bearer_auth(d.agent_key()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = d.http.get(&teams).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (s, v) = d.admin(Method::GET, "teams", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["teams"].as_array().unwrap().len(), 1);
    let (s, v) = d
        .admin(
            Method::POST,
            "keys",
            Some(json!({"kind": "agent", "team_id": d.b("team_id"), "permissions": ["admin:everything"]})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) =
        d.admin(Method::PUT, &format!("projects/{}/quota", d.b("project_id")), Some(json!({"project_bytes": 0}))).await;
    assert_eq!(s, 200, "any non-negative override is allowed through the admin API");
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(b"x", None)).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (413, "quota_exhausted"));
}

#[tokio::test(flavor = "multi_thread")]
async fn config_check_validates() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["config", "check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten = \"nowhere\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["config", "check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.listen"));
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[server]\nlisten_addr = \"127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["config", "check", "--config"])
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success(), "unknown keys are refused");

    // Environment: `ATTACHD_<SECTION>__<KEY>` overrides the file; other ATTACHD_ variables (the CLI's
    // token, test knobs) are not configuration and must not be refused as unknown keys.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["config", "check", "--config"])
        .arg(&good)
        .env("ATTACHD_ADMIN_TOKEN", "not-a-config-key")
        .env("ATTACHD_QUOTA__USER_BYTES", "12345")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["quota"]["user_bytes"], 12345);
    assert_eq!(shown["server"]["listen"], "127.0.0.1:9999");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["config", "check", "--config"])
        .arg(&good)
        .env("ATTACHD_SERVER__LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!out.status.success(), "environment overrides are validated too");
}

/// Deleting a project soft-deletes every attachment in it, refuses new reservations, and a
/// reservation racing the delete either is deleted with the project or refused: none stays live.
#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_project_takes_its_attachments_and_racing_reserves_with_it() {
    let d = std::sync::Arc::new(Daemon::start().await);
    let uploaded = d.upload(b"in the project").await;
    let racers: Vec<_> = (0..64u8)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                let (s, v) = d.reserve_json(&d.client_key(), reserve_body(&[i; 10], None)).await;
                (s, v["attachment_id"].as_str().map(str::to_string))
            })
        })
        .collect();
    let (s, v) = d.admin(Method::DELETE, &format!("projects/{}", d.b("project_id")), None).await;
    assert_eq!(s, 200, "{v}");
    let mut granted = vec![uploaded];
    for r in racers {
        let (s, id) = r.await.unwrap();
        match (s, id) {
            (201, Some(id)) => granted.push(id),
            (400, None) => {} // refused: the project is gone
            other => panic!("unexpected reserve outcome {other:?}"),
        }
    }
    for id in &granted {
        assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await.0, 404, "{id} is still live");
        assert_ne!(d.put(&d.client_key(), id, b"late".to_vec()).await.0, 200);
    }
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(b"after", None)).await;
    assert_eq!(s, 400, "{v}");
    let f = d.admin(Method::POST, "fsck", None).await.1;
    assert_eq!(f["ok"], true, "{f}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_is_served_on_the_ops_listener_only_by_default() {
    let d = Daemon::start().await;
    // The public port does not even reveal it, with or without the token.
    let r = d.http.get(d.url("/admin/v1/teams")).bearer_auth(d.admin_token()).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "route_not_found");
    // The ops listener serves it (and still only it, plus metrics and probes).
    assert_eq!(d.admin(Method::GET, "teams", None).await.0, 200);
    let r = d.http.get(format!("{}/v1/attachments", d.admin_base())).bearer_auth(d.agent_key()).send().await;
    assert_eq!(r.unwrap().status(), 404, "the public API is not on the ops listener");
    // "public" serves it on both; "off" nowhere.
    let open = Daemon::start_with(crate::harness::Opts::default().set("server", "admin_api = \"public\"")).await;
    let r = open.http.get(open.url("/admin/v1/teams")).bearer_auth(open.admin_token()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let off = Daemon::start_with(crate::harness::Opts::default().set("server", "admin_api = \"off\"")).await;
    assert_eq!(off.admin(Method::GET, "teams", None).await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_tokens_rotate_and_revoke_at_once() {
    let d = Daemon::start().await;
    let (s, v) = d.admin(Method::GET, "tokens", None).await;
    assert_eq!(s, 200, "{v}");
    let tokens = v["tokens"].as_array().unwrap().clone();
    assert_eq!(tokens.len(), 1);
    let boot_id = tokens[0]["id"].as_str().unwrap().to_string();
    assert!(!v.to_string().contains(&d.admin_token()), "listings never include secrets");
    // The last token cannot be revoked.
    assert_eq!(d.admin(Method::DELETE, &format!("tokens/{boot_id}"), None).await.0, 409);
    // Rotate: create the new one (CLI), use it, revoke the bootstrap one.
    let (ok, created, err) = cli(&d, &["create-token", "--name", "ops-2026"]);
    assert!(ok, "{err}");
    let new_secret = created["secret"].as_str().unwrap().to_string();
    let teams = format!("{}/admin/v1/teams", d.admin_base());
    let r = d.http.get(&teams).bearer_auth(&new_secret).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (ok, _, err) = cli(&d, &["revoke-token", &boot_id]);
    assert!(ok, "{err}");
    let r = d.http.get(&teams).bearer_auth(d.admin_token()).send().await.unwrap();
    assert_eq!(r.status(), 401, "a revoked token is refused on the next request");
    let r = d.http.get(&teams).bearer_auth(&new_secret).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = d.http.get(format!("{}/admin/v1/tokens", d.admin_base())).bearer_auth(&new_secret).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(v["tokens"][0]["name"], "ops-2026");
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_go_only_under_the_backup_dir_and_carry_no_secrets() {
    let d =
        Daemon::start_with(crate::harness::Opts::default().set("storage", "standalone_threshold_bytes = 4096")).await;
    d.upload(&data(100, 1)).await;
    d.upload(&data(10_000, 2)).await;
    for (name, want) in [("../escape", 400), ("/abs", 400), (".hidden", 400), ("a/b", 400)] {
        let (s, v) = d.admin(Method::POST, "backup", Some(json!({ "name": name }))).await;
        assert_eq!(s, want, "{name}: {v}");
    }
    let (s, v) = d.admin(Method::POST, "backup", Some(json!({ "dest": "/tmp/anywhere" }))).await;
    assert_eq!(s, 400, "a path is not accepted: {v}");
    let (s, v) = d.admin(Method::POST, "backup", Some(json!({ "name": "nightly" }))).await;
    assert_eq!(s, 200, "{v}");
    let dest = std::path::PathBuf::from(v["dest"].as_str().unwrap());
    assert_eq!(dest, d.dir.path().join("backups/nightly"));
    assert!(dest.join("index").is_dir());
    for secret in ["secrets.json", "bootstrap.json"] {
        assert!(!dest.join(secret).exists(), "{secret} copied into the backup");
    }
    assert_eq!(d.admin(Method::POST, "backup", Some(json!({ "name": "nightly" }))).await.0, 409);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_admin_token_is_recovered_offline() {
    let mut d = Daemon::start().await;
    d.stop().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["recover-admin-token", "--name", "break-glass", "--config"])
        .arg(d.dir.path().join("config.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = v["secret"].as_str().unwrap().to_string();
    d.restart_after_stop().await;
    let r = d.http.get(format!("{}/admin/v1/tokens", d.admin_base())).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let listed: serde_json::Value = r.json().await.unwrap();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2, "{listed}");
}
