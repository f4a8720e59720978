//! The admin surface: HTTP API and the `attachd admin` CLI, quota overrides, config check.

use reqwest::Method;
use serde_json::json;

use crate::harness::{Daemon, data, reserve_body};

fn cli(d: &Daemon, args: &[&str]) -> (bool, serde_json::Value, String) {
    let url = d.addr_url();
    let token = d.admin_token();
    let mut all = vec!["admin", "--url", &url, "--token", &token];
    all.extend_from_slice(args);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd")).args(&all).output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), v, String::from_utf8_lossy(&out.stderr).into_owned())
}

impl Daemon {
    fn addr_url(&self) -> String {
        format!("http://{}", self.addr)
    }
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
    let r = d.http.get(d.url("/admin/v1/teams")).bearer_auth(d.agent_key()).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = d.http.get(d.url("/admin/v1/teams")).send().await.unwrap();
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
