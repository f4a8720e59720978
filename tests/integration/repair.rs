//! Derived state is never trusted alone: segments are removed only when no record points into
//! them (whatever their live counters say), and an interrupted `fsck --repair` stops the daemon
//! and offline cleanup from acting on its half-rebuilt counters until a repair completes.

use std::process::Command;

use crate::harness::{Daemon, Opts, data};
use crate::reliability::fsck_offline;

/// A daemon whose small segments fill quickly, with cleanup reclaiming at once.
async fn small_segments() -> (Daemon, Vec<(String, Vec<u8>)>) {
    let d = Daemon::start_with(
        Opts::default()
            .set("storage", "segment_bytes = 1048576")
            .set("storage", "standalone_threshold_bytes = 65536")
            .set("cleanup", "soft_delete_grace_secs = 0"),
    )
    .await;
    let mut stored = Vec::new();
    // ~2.5 MiB of 40 KiB attachments: two sealed segments and an active one.
    for i in 0..64 {
        let payload = data(40_000, i);
        stored.push((d.upload(&payload).await, payload));
    }
    assert!(std::fs::read_dir(d.data.join("segments")).unwrap().count() >= 3);
    (d, stored)
}

/// Zeroes every segment live counter offline (as an interrupted repair, or a bug, would).
fn zero_segment_counters(d: &Daemon, with_marker: bool) {
    let idx = attachd::index::Index::open(&d.data.join("index")).unwrap();
    let mut b = idx.batch();
    if with_marker {
        b.clear_derived();
        b.put_marker(attachd::local::fsck::REPAIR_IN_PROGRESS, &serde_json::json!("test"));
    } else {
        for e in std::fs::read_dir(d.data.join("segments")).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(id) = name.strip_suffix(".seg").and_then(|n| u64::from_str_radix(n, 16).ok()) {
                b.set_segment_live(attachd::ids::SegmentId(id), None);
            }
        }
    }
    b.commit(true).unwrap();
}

async fn all_download(d: &Daemon, stored: &[(String, Vec<u8>)]) {
    for (id, payload) in stored {
        assert!(d.download(id).await == *payload, "{id} lost");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_never_removes_a_segment_a_record_points_into_whatever_its_counter_says() {
    let (mut d, stored) = small_segments().await;
    let segments_before = std::fs::read_dir(d.data.join("segments")).unwrap().count();
    d.stop().await;
    zero_segment_counters(&d, false);
    d.restart_after_stop().await;
    let report = d.cleanup().await;
    assert_eq!(std::fs::read_dir(d.data.join("segments")).unwrap().count(), segments_before, "{report}");
    all_download(&d, &stored).await;
    assert!(d.log().contains("keeping the segment"), "the disagreement is logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_repair_blocks_serving_and_cleanup_until_a_repair_completes() {
    let (mut d, stored) = small_segments().await;
    let usage = d.usage(None).await;
    d.stop().await;
    zero_segment_counters(&d, true);
    // The daemon refuses to start, saying why.
    let cfg = d.dir.path().join("config.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_attachd")).args(["serve", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("fsck --repair"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["cleanup", "--offline", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success(), "offline cleanup ran on half-rebuilt counters");
    let (ok, v) = fsck_offline(&d, false);
    assert!(!ok, "{v}");
    let (ok, v) = fsck_offline(&d, true);
    assert!(ok, "{v}");
    d.restart_after_stop().await;
    assert_eq!(d.usage(None).await, usage);
    d.cleanup().await;
    all_download(&d, &stored).await;
}
