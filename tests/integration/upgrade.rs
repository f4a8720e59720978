//! A data directory written by an earlier release opens, lists, downloads, deletes and takes
//! new uploads after an upgrade, and fsck finds it consistent.
//!
//! The fixture `tests/fixtures/datadir-0.1.0.tar.gz` was written by the 0.1.0 binary (record
//! format version 1) through [`write_fixture`], which is ignored by default: run it against an
//! old binary with `ATTACHD_TEST_BIN=<old attachd> ATTACHD_FIXTURE_OUT=<dir>` to make another.
//! Its manifest (`manifest.json` inside the archive, beside the data) names every attachment
//! with the seed and length of its bytes and the state it was left in.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Daemon, Opts, data, sha_hex};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/datadir-0.1.0.tar.gz");

/// Settings both the writer and the reader use: small segments and standalone threshold so
/// the fixture holds both kinds of blob and stays small; reservations that never lapse.
fn opts() -> Opts {
    Opts::default()
        .set("storage", "segment_bytes = 1048576")
        .set("storage", "standalone_threshold_bytes = 8192")
        .set("uploads", "reservation_ttl_secs = 3153600000")
}

#[tokio::test]
#[ignore = "writes the fixture; run against an earlier release's binary"]
async fn write_fixture() {
    let out = std::path::PathBuf::from(std::env::var("ATTACHD_FIXTURE_OUT").expect("ATTACHD_FIXTURE_OUT"));
    let mut d = Daemon::start_with(opts()).await;
    let mut files = Vec::new();
    let mut put = |seed: u64, len: usize, user: Option<&'static str>, state: &'static str| {
        files.push((seed, len, user, state));
    };
    put(1, 1000, Some("user_42"), "uploaded");
    put(2, 5000, None, "uploaded");
    put(3, 20_000, Some("user_42"), "uploaded"); // standalone
    put(4, 3000, Some("user_7"), "deleted");
    put(5, 12_000, Some("user_7"), "deleted"); // standalone
    put(6, 777, Some("user_42"), "pending");
    put(7, 64, Some("user_9"), "uploaded");
    let mut manifest = Vec::new();
    for (seed, len, user, state) in files {
        let bytes = data(len, seed);
        let id = d.reserve(&bytes, user).await;
        if state != "pending" {
            let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
            assert_eq!(s, 200, "{v}");
        }
        if state == "deleted" {
            assert_eq!(d.delete(&d.client_key(), &id).await.0, 200);
        }
        manifest.push(json!({"id": id, "seed": seed, "len": len, "user": user, "state": state}));
    }
    assert_eq!(d.stop().await.code(), Some(0));
    std::fs::create_dir_all(&out).unwrap();
    let files = Value::Array(manifest);
    std::fs::write(d.data.join("manifest.json"), serde_json::to_vec_pretty(&files).unwrap()).unwrap();
    let archive = out.join("datadir-0.1.0.tar.gz");
    let status = std::process::Command::new("tar")
        .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--exclude=./index/LOG*", "-czf"])
        .arg(&archive)
        .arg("-C")
        .arg(&d.data)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
}

/// Unpacks the fixture into a fresh directory and starts this build on it.
async fn open_fixture() -> (tempfile::TempDir, Daemon, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let status = std::process::Command::new("tar").arg("-xzf").arg(FIXTURE).arg("-C").arg(&data_dir).status().unwrap();
    assert!(status.success(), "could not unpack {FIXTURE}");
    let manifest: Vec<Value> = serde_json::from_slice(&std::fs::read(data_dir.join("manifest.json")).unwrap()).unwrap();
    let d = Daemon::start_with(Opts { data_dir: Some(data_dir), ..opts() }).await;
    (dir, d, manifest)
}

fn in_state<'a>(m: &'a [Value], state: &str) -> Vec<&'a Value> {
    m.iter().filter(|f| f["state"] == state).collect()
}

fn bytes_of(f: &Value) -> Vec<u8> {
    data(f["len"].as_u64().unwrap() as usize, f["seed"].as_u64().unwrap())
}

#[tokio::test]
async fn a_data_dir_from_the_previous_release_opens_and_serves() {
    let (_dir, mut d, manifest) = open_fixture().await;
    assert!(manifest.len() >= 7, "the fixture holds every state");

    // fsck: records, rows, counters and bytes agree, as the old release left them.
    let (s, f) = d.admin(Method::POST, "fsck", None).await;
    assert_eq!((s, &f["ok"]), (200, &json!(true)), "{f}");

    // Listing: every file not deleted, newest first; none of the deleted ones.
    let path = format!("/v1/attachments?project_id={}&limit=100", d.b("project_id"));
    let (s, page) = d.get(&d.agent_key(), &path).await;
    assert_eq!(s, 200, "{page}");
    let listed: Vec<&str> = page["attachments"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> =
        manifest.iter().filter(|f| f["state"] != "deleted").map(|f| f["id"].as_str().unwrap()).collect();
    want.reverse();
    assert_eq!(listed, want, "{page}");

    // Downloads: exact bytes, from segments and standalone files alike.
    for f in in_state(&manifest, "uploaded") {
        let got = d.download(f["id"].as_str().unwrap()).await;
        assert_eq!(sha_hex(&got), sha_hex(&bytes_of(f)), "{f}");
    }

    // Usage: what is not deleted, by declared size, per project and per user.
    let live: Vec<&Value> = manifest.iter().filter(|f| f["state"] != "deleted").collect();
    let u = d.usage(None).await;
    let total: u64 = live.iter().map(|f| f["len"].as_u64().unwrap()).sum();
    assert_eq!((&u["used_bytes"], &u["file_count"]), (&json!(total), &json!(live.len())), "{u}");
    let u42: u64 = live.iter().filter(|f| f["user"] == "user_42").map(|f| f["len"].as_u64().unwrap()).sum();
    assert_eq!(d.usage(Some("user_42")).await["user_used_bytes"], json!(u42));

    // The pending reservation still takes its upload; a deleted one is still deleted.
    let pending = in_state(&manifest, "pending")[0];
    let (s, v) = d.put(&d.client_key(), pending["id"].as_str().unwrap(), bytes_of(pending)).await;
    assert_eq!(s, 200, "{v}");
    let deleted = in_state(&manifest, "deleted")[0];
    let (s, _) = d.get(&d.agent_key(), &format!("/v1/attachments/{}", deleted["id"].as_str().unwrap())).await;
    assert_eq!(s, 404);

    // Delete an old one; upload a new one; both survive a restart, and cleanup reclaims what
    // the old release soft-deleted.
    let old = in_state(&manifest, "uploaded")[0]["id"].as_str().unwrap().to_string();
    assert_eq!(d.delete(&d.client_key(), &old).await.0, 200);
    let fresh = data(90_000, 99);
    let new_id = d.upload(&fresh).await;
    d.restart().await;
    assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{old}")).await.0, 404);
    assert_eq!(d.download(&new_id).await, fresh);
    assert_eq!(d.download(pending["id"].as_str().unwrap()).await, bytes_of(pending));
    let (s, f) = d.admin(Method::POST, "fsck", None).await;
    assert_eq!((s, &f["ok"]), (200, &json!(true)), "{f}");
}
