//! Downloads racing compaction: clients download many small attachments continuously while
//! others are deleted and cleanup compacts their segments, moving the live records to a new
//! segment and removing the old files under the readers' feet. Every download must return the
//! exact bytes, or a clean 404 for an attachment whose delete was already sent; never a 5xx,
//! a cut-off body or someone else's bytes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::harness::{Daemon, Opts, data};

/// What the downloaders share.
struct Shared {
    /// (id, signed download URL, bytes) of every attachment uploaded.
    files: Vec<(String, String, Vec<u8>)>,
    /// Ids whose delete has been sent (a 404 is right for these, and only these).
    deleting: Mutex<HashSet<String>>,
    stop: AtomicBool,
    ok: AtomicU64,
    gone: AtomicU64,
}

async fn downloader(http: reqwest::Client, s: Arc<Shared>, start: usize) {
    let mut i = start;
    while !s.stop.load(Ordering::Relaxed) {
        let (id, url, bytes) = &s.files[i % s.files.len()];
        i += 7;
        // Mostly the live ones; one in eight deleted ones, for the delete-in-flight race.
        if i % 8 != 0 && s.deleting.lock().unwrap().contains(id) {
            continue;
        }
        let r = http.get(url).send().await.expect("download request");
        let status = r.status().as_u16();
        let body = r.bytes().await;
        match status {
            200 => {
                let body = body.unwrap_or_else(|e| panic!("download of {id} cut off: {e}"));
                assert!(body[..] == bytes[..], "download of {id} returned wrong bytes ({} bytes)", body.len());
                s.ok.fetch_add(1, Ordering::Relaxed);
            }
            404 => {
                assert!(s.deleting.lock().unwrap().contains(id), "live attachment {id} answered 404");
                s.gone.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("download of {id}: {other} {:?}", body.map(|b| String::from_utf8_lossy(&b).into_owned())),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_racing_compaction_get_exact_bytes_or_a_clean_404() {
    let d = Daemon::start_with(
        Opts::default()
            .set("storage", "standalone_threshold_bytes = 65536")
            .set("storage", "segment_bytes = 1048576")
            .set("cleanup", "soft_delete_grace_secs = 0")
            // Slow copying, so downloads overlap every move and every file removal.
            .set("cleanup", "compaction_bytes_per_sec = 2097152")
            .set("log", "level = \"warn\""),
    )
    .await;
    // ~3.6 MB of 10–50 KB attachments: four segments, three of them sealed.
    let mut files = Vec::new();
    for i in 0..120u64 {
        let bytes = data(10_000 + (i as usize * 337) % 40_000, i);
        let id = d.upload(&bytes).await;
        let url = d.download_url(&id).await;
        files.push((id, url, bytes));
    }
    let shared = Arc::new(Shared {
        files,
        deleting: Mutex::new(HashSet::new()),
        stop: AtomicBool::new(false),
        ok: AtomicU64::new(0),
        gone: AtomicU64::new(0),
    });
    let loops: Vec<_> = (0..8).map(|k| tokio::spawn(downloader(d.http.clone(), shared.clone(), k * 13))).collect();
    // Rounds: delete two of every three still live (so each sealed segment falls below the
    // live ratio), then compact while the downloads go on.
    let (mut moved, mut removed) = (0u64, 0u64);
    let mut round = 0;
    while round < 3 {
        let live: Vec<String> = {
            let deleting = shared.deleting.lock().unwrap();
            shared.files.iter().map(|f| f.0.clone()).filter(|id| !deleting.contains(id)).collect()
        };
        for id in live.iter().enumerate().filter(|(n, _)| n % 3 != 0).map(|(_, id)| id) {
            shared.deleting.lock().unwrap().insert(id.clone());
            assert_eq!(d.delete(&d.client_key(), id).await.0, 200);
        }
        let before = shared.ok.load(Ordering::Relaxed);
        let report = d.cleanup().await;
        let during = shared.ok.load(Ordering::Relaxed) - before;
        assert!(during > 0, "no download completed while cleanup ran: {report}");
        moved += report["records_moved"].as_u64().unwrap_or(0);
        removed += report["segments_compacted"].as_u64().unwrap_or(0);
        round += 1;
        // Upload more, so the segment that was active fills, is sealed and can be compacted next.
        for i in 0..30u64 {
            d.upload(&data(30_000, 1000 * round + i)).await;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.expect("a downloader failed");
    }
    let (ok, gone) = (shared.ok.load(Ordering::Relaxed), shared.gone.load(Ordering::Relaxed));
    eprintln!(
        "compaction race: {ok} downloads intact, {gone} clean 404s, {moved} records moved, {removed} segments removed"
    );
    assert!(moved > 0 && removed > 0, "compaction moved records ({moved}) and removed segments ({removed})");
    assert!(ok > 500, "the downloads ran throughout ({ok})");
    // Afterwards every survivor still downloads intact, and fsck agrees.
    let deleting = shared.deleting.lock().unwrap().clone();
    for (id, _, bytes) in shared.files.iter().filter(|f| !deleting.contains(&f.0)) {
        assert!(d.download(id).await == *bytes, "{id} after compaction");
    }
    let (_, f) = d.admin(reqwest::Method::POST, "fsck", None).await;
    assert_eq!(f["ok"], true, "{f}");
}
