//! Defects of the 2026-12-02 release, each pinned by a test against the real binary: secrets in
//! `config check`, JWTs without `exp` or for another audience, file modes, signals right after
//! start, a relative ready file, control characters in filenames and sizes past any quota.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Daemon, JWT_SECRET, Opts, data, reserve_body};

fn attachd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attachd"))
}

#[test]
fn config_check_never_prints_secrets() {
    let out = attachd()
        .args(["config", "check"])
        .env("ATTACHD_AUTH__JWT_SECRET", "jwt-secret-that-must-not-leak")
        .env("ATTACHD_AUTH__DOWNLOAD_SIGNING_SECRET", "signing-secret-that-must-not-leak")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&all);
    assert!(!text.contains("must-not-leak"), "config check printed a secret:\n{text}");
    let cfg: Value = serde_json::from_str(text.split("attachd: configuration").next().unwrap()).unwrap();
    assert_eq!(cfg["auth"]["jwt_secret"], attachd::config::REDACTED, "it says a secret is set");
    assert_eq!(cfg["auth"]["download_url_ttl_secs"], 60, "everything else is printed");
}

async fn user_token(d: &Daemon, claims: Value) -> (u16, Value) {
    let rules = attachd::service::jwt::JwtRules::default();
    let jwt = attachd::service::jwt::JwtVerifier::new(JWT_SECRET.as_bytes(), rules).sign(&claims);
    d.get(&jwt, "/v1/attachments").await
}

#[tokio::test(flavor = "multi_thread")]
async fn jwts_need_exp_and_the_configured_audience_and_issuer() {
    let d = Daemon::start_with(
        Opts::default().set("auth", "jwt_audience = \"attachd\"").set("auth", "jwt_issuer = \"https://idp.test\""),
    )
    .await;
    let (s, _) = d
        .admin(reqwest::Method::PUT, &format!("teams/{}/members/u1", d.b("team_id")), Some(json!({"role": "member"})))
        .await;
    assert!(s == 200 || s == 201, "{s}");
    let later = attachd::clock::Timestamp::now().as_secs() + 600;
    let good = json!({"sub": "u1", "exp": later, "aud": "attachd", "iss": "https://idp.test"});
    assert_eq!(user_token(&d, good.clone()).await.0, 200, "a token that follows every rule");
    for (what, drop, replace) in [
        ("no exp", "exp", None),
        ("no aud", "aud", None),
        ("another audience", "aud", Some(json!("billing"))),
        ("no iss", "iss", None),
        ("another issuer", "iss", Some(json!("https://evil.test"))),
    ] {
        let mut claims = good.clone();
        match replace {
            Some(v) => claims[drop] = v,
            None => {
                claims.as_object_mut().unwrap().remove(drop);
            }
        }
        let (s, v) = user_token(&d, claims).await;
        assert_eq!(s, 401, "{what}: {v}");
    }
}

fn assert_private(root: &Path) -> usize {
    let mut seen = 0;
    for e in std::fs::read_dir(root).unwrap().flatten() {
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}: readable by others", e.path().display());
        seen += 1;
        if meta.is_dir() {
            seen += assert_private(&e.path());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_in_the_data_dir_is_private_to_the_daemon_user() {
    let d = Daemon::start_with(Opts::default().set("storage", "standalone_threshold_bytes = 4096")).await;
    d.upload(&data(100, 1)).await;
    d.upload(&data(100_000, 2)).await;
    let mode = std::fs::metadata(&d.data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o077, 0, "data dir is {mode:o}");
    let n = assert_private(&d.data);
    assert!(n > 10, "walked {n} entries");
}

/// Starts `attachd serve` by hand in `cwd` with `ready` as its ready file.
fn spawn_serve(dir: &Path, ready: &str) -> std::process::Child {
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nadmin_api = \"off\"\n[metrics]\nlisten = \"\"\n[storage]\ndata_dir = {:?}\n[cleanup]\nschedule = \"off\"\n",
            dir.join("data").display().to_string()
        ),
    )
    .unwrap();
    attachd()
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--ready-file", ready])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relative_ready_file_and_sigterm_the_moment_it_appears() {
    // The ready file names a bare file in the working directory; SIGTERM is sent the instant it
    // appears (the first thing a supervisor or a test does). Repeated, since it is a race.
    let dir = tempfile::tempdir().unwrap();
    for round in 0..15 {
        let ready = dir.path().join("ready");
        let _ = std::fs::remove_file(&ready);
        let mut child = spawn_serve(dir.path(), "ready");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready.exists() {
            if let Some(s) = child.try_wait().unwrap() {
                panic!("round {round}: attachd exited before it was ready: {s}");
            }
            assert!(Instant::now() < deadline, "round {round}: no ready file");
            std::thread::yield_now();
        }
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        assert!(status.success(), "round {round}: SIGTERM right after start: {status}");
        assert!(std::fs::read_to_string(&ready).unwrap().contains("127.0.0.1:"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filename_with_control_characters_is_stored_as_sent_and_sanitised_in_headers() {
    let d = Daemon::start().await;
    let name = "crash\r\nSet-Cookie: s=1\u{0}\u{7}.log";
    let payload = data(300, 7);
    let mut body = reserve_body(&payload, None);
    body["original_filename"] = json!(name);
    let (s, v) = d.reserve_json(&d.client_key(), body).await;
    assert_eq!(s, 201, "{v}");
    let id = v["attachment_id"].as_str().unwrap().to_string();
    assert_eq!(d.put(&d.client_key(), &id, payload.clone()).await.0, 200);
    let (_, rec) = d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await;
    assert_eq!(rec["original_filename"], name, "kept exactly as sent");
    let url = d.download_url(&id).await;
    let r = d.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cd = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(!cd.chars().any(char::is_control), "{cd:?}");
    assert!(r.headers().get("set-cookie").is_none());
    assert_eq!(r.bytes().await.unwrap().as_ref(), payload.as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn sizes_beyond_any_quota_are_quota_exhausted_as_in_the_reference() {
    let d = Daemon::start().await;
    for size in [json!(9007199254740991u64), json!(1u64 << 60), json!(u64::MAX), json!(1e20)] {
        let mut body = reserve_body(b"x", None);
        body["size_bytes"] = size.clone();
        let (s, v) = d.reserve_json(&d.client_key(), body).await;
        assert_eq!(s, 413, "{size}: {v}");
        assert_eq!(v["code"], "quota_exhausted", "{size}: {v}");
    }
    assert_eq!(d.usage(None).await["used_bytes"], 0);
}
