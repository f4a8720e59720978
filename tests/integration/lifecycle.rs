//! The daemon's life: bootstrap, restart, kill -9, cleanup, compaction and disk usage.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::harness::{Daemon, Opts, data};

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_writes_secrets_once_mode_0600_and_stores_only_hashes() {
    let mut d = Daemon::start().await;
    let path = d.data.join("bootstrap.json");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    for f in ["admin_token", "team_id", "project_id", "app_id", "client_key", "agent_key"] {
        assert!(d.boot[f].as_str().is_some_and(|s| !s.is_empty()), "{f}");
    }
    assert!(d.client_key().starts_with("owl_client_"));
    assert!(d.agent_key().starts_with("owl_agent_"));
    assert!(d.log().contains("bootstrap.json"), "prints where the secrets are");
    let before = d.boot.clone();
    d.restart().await;
    assert_eq!(d.boot, before, "a restart does not bootstrap again");
    // No secret appears in plaintext anywhere in the index (WAL or tables).
    d.stop().await;
    for secret in [d.client_key(), d.agent_key(), d.admin_token()] {
        for entry in walk(&d.data.join("index")) {
            let bytes = std::fs::read(&entry).unwrap();
            assert!(!contains(&bytes, secret.as_bytes()), "{} holds a plaintext secret", entry.display());
        }
    }
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_survives_restart_and_kill_9() {
    let mut d = Daemon::start_with(Opts::default().set("storage", "standalone_threshold_bytes = 4096")).await;
    let small = data(100, 1);
    let large = data(100_000, 2);
    let a = d.upload(&small).await;
    let b = d.upload(&large).await;
    let pending = d.reserve(&data(50, 3), Some("u")).await;
    let deleted = d.upload(&data(10, 4)).await;
    assert_eq!(d.delete(&d.client_key(), &deleted).await.0, 200);
    let usage = d.usage(Some("u")).await;
    for round in 0..2 {
        if round == 0 {
            d.restart().await;
        } else {
            d.kill_and_restart().await;
        }
        assert!(d.download(&a).await == small);
        assert!(d.download(&b).await == large);
        let (_, p) = d.get(&d.agent_key(), &format!("/v1/attachments/{pending}")).await;
        assert_eq!(p["uploaded_at"], serde_json::Value::Null);
        assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{deleted}")).await.0, 404);
        assert_eq!(d.usage(Some("u")).await, usage);
    }
    // The pending reservation can still be completed after the restarts.
    assert_eq!(d.put(&d.client_key(), &pending, data(50, 3)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_zero() {
    let mut d = Daemon::start().await;
    d.upload(b"x").await;
    let s = d.stop().await;
    assert!(s.success(), "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_reclaims_deleted_bytes_and_compaction_keeps_the_rest() {
    let d = Daemon::start_with(
        Opts::default()
            .set("storage", "standalone_threshold_bytes = 65536")
            .set("storage", "segment_bytes = 1048576")
            .set("cleanup", "soft_delete_grace_secs = 0")
            .set("cleanup", "orphan_grace_secs = 0"),
    )
    .await;
    // ~4 MiB of small attachments across several 1 MiB segments, plus a few large ones.
    let mut kept = Vec::new();
    let mut doomed = Vec::new();
    for i in 0..80u64 {
        let bytes = data(50_000, i);
        let id = d.upload(&bytes).await;
        if i % 5 == 0 { kept.push((id, bytes)) } else { doomed.push(id) }
    }
    for i in 0..4u64 {
        let bytes = data(300_000, 100 + i);
        let id = d.upload(&bytes).await;
        if i == 0 { kept.push((id, bytes)) } else { doomed.push(id) }
    }
    for id in &doomed {
        assert_eq!(d.delete(&d.client_key(), id).await.0, 200);
    }
    let before = d.store_disk_bytes();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let report = d.cleanup().await;
    assert_eq!(report["soft_deleted_removed"], doomed.len(), "{report}");
    assert!(report["segments_compacted"].as_u64().unwrap() >= 2, "{report}");
    let after = d.store_disk_bytes();
    assert!(after * 2 < before, "disk usage went down: {before} → {after}; {report}");
    for (id, bytes) in &kept {
        assert!(d.download(id).await == *bytes, "kept attachment {id} intact after compaction");
    }
    let u = d.usage(None).await;
    assert_eq!(u["file_count"], kept.len());
    // A second pass finds nothing more to do.
    let again = d.cleanup().await;
    assert_eq!(again["soft_deleted_removed"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cleanup_command_runs_the_job_on_a_running_daemon() {
    let d = Daemon::start_with(Opts::default().set("cleanup", "soft_delete_grace_secs = 0")).await;
    let id = d.upload(b"bye").await;
    d.delete(&d.client_key(), &id).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["cleanup", "--url", &d.admin_base(), "--token", &d.admin_token()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["soft_deleted_removed"], 1, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_online_backup_opens_as_a_complete_data_directory() {
    let d = Daemon::start_with(
        Opts::default()
            .set("storage", "standalone_threshold_bytes = 4096")
            .set("cleanup", "soft_delete_grace_secs = 0"),
    )
    .await;
    let small = data(1000, 1);
    let large = data(50_000, 2);
    let a = d.upload(&small).await;
    let b = d.upload(&large).await;
    let pending = d.reserve(&data(7, 3), None).await;
    let dest = d.dir.path().join("backups/before-delete");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["backup", "--url", &d.admin_base(), "--token", &d.admin_token(), "--name", "before-delete"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The original moves on: both are deleted and reclaimed there.
    for id in [&a, &b] {
        assert_eq!(d.delete(&d.client_key(), id).await.0, 200);
    }
    d.cleanup().await;
    assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{a}")).await.0, 404);
    // The backup still has everything as it was.
    let mut opts = Opts::default();
    opts.data_dir = Some(dest);
    let mut restored = Daemon::start_with(opts).await;
    assert!(restored.boot.is_null(), "no bootstrap.json: backups carry no plaintext secrets");
    // The keys and tokens the clients hold keep working (the index stores their hashes).
    restored.boot = d.boot.clone();
    assert_eq!(restored.admin(reqwest::Method::GET, "teams", None).await.0, 200);
    assert!(restored.download(&a).await == small);
    assert!(restored.download(&b).await == large);
    assert_eq!(restored.put(&restored.client_key(), &pending, data(7, 3)).await.0, 200);
}
