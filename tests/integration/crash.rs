//! The crash loop: the real daemon under concurrent mixed load (reserves, small and large PUTs,
//! deletes, cleanup with compaction) is `kill -9`ed at random moments, restarted, and checked
//! against what clients were told:
//! * every upload that got a 200 is present and its bytes hash to its SHA-256 — every one of
//!   them, after every restart (downloaded [`VERIFY_CONCURRENCY`] at a time), not a sample;
//! * an upload refused with a definite error is not visible as uploaded;
//! * an upload whose answer was lost may go either way, but if visible its bytes are right;
//! * every soft delete that got a 200 stays deleted;
//! * fsck finds every record's bytes, rows and counters consistent (usage equals the sums
//!   recomputed from the records);
//! and at the end, after everything is deleted and cleanup has run, nothing is left: no usage,
//! no blob file, no segment beyond the active one.
//!
//! `cargo test --release --test integration crash_loop` runs 20 cycles; the long mode runs
//! `ATTACHD_CRASH_CYCLES` (default 300): `cargo test --release --test integration -- --ignored crash_loop_long`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::{Daemon, Opts, data, reserve_body, sha_hex};
use crate::oracle::{Oracle, Rng};

fn opts() -> Opts {
    Opts::default()
        .set("storage", "standalone_threshold_bytes = 32768")
        .set("storage", "segment_bytes = 2097152")
        .set("uploads", "reservation_ttl_secs = 4")
        .set("uploads", "reservation_sweep_interval_secs = 1")
        .set("cleanup", "soft_delete_grace_secs = 0")
        .set("cleanup", "orphan_grace_secs = 0")
        .set("log", "level = \"warn\"")
}

async fn worker(
    d: Arc<(String, String, String, reqwest::Client, String)>,
    oracle: Arc<Mutex<Oracle>>,
    seed: u64,
    until: Instant,
) {
    let (addr, client_key, admin, http, admin_base) = (&d.0, &d.1, &d.2, &d.3, &d.4);
    let mut rng = Rng::new(seed);
    while Instant::now() < until {
        let roll = rng.below(100);
        if roll < 70 {
            let len = if rng.below(4) == 0 { 20_000 + rng.below(200_000) } else { 1 + rng.below(20_000) } as usize;
            let bytes = data(len, rng.next_u64());
            let sha = sha_hex(&bytes);
            let r = http
                .post(format!("http://{addr}/v1/ingest/attachment"))
                .bearer_auth(client_key)
                .json(&reserve_body(&bytes, Some("u")))
                .send()
                .await;
            let Ok(r) = r else { return };
            if r.status() != 201 {
                continue;
            }
            let Ok(v) = r.json::<Value>().await else { return };
            let id = v["attachment_id"].as_str().unwrap().to_string();
            let put = http
                .put(format!("http://{addr}/v1/ingest/attachment/{id}"))
                .bearer_auth(client_key)
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .await;
            let mut o = oracle.lock().unwrap();
            o.ops += 1;
            if !o.put_answered(id, sha, put.ok().map(|r| r.status().as_u16())) {
                return;
            }
        } else if roll < 92 {
            let victim = {
                let o = oracle.lock().unwrap();
                let n = o.acked.len() as u64;
                if n == 0 {
                    continue;
                }
                o.acked.keys().nth(rng.below(n) as usize).cloned()
            };
            let Some(id) = victim else { continue };
            let r = http.delete(format!("http://{addr}/v1/attachments/{id}")).bearer_auth(client_key).send().await;
            let mut o = oracle.lock().unwrap();
            o.ops += 1;
            match r.map(|r| r.status().as_u16()) {
                Ok(200) => {
                    o.acked.remove(&id);
                    o.deleted.insert(id);
                }
                Ok(_) => {}
                Err(_) => {
                    o.delete_unknown.insert(id);
                    return;
                }
            }
        } else {
            let r = http.post(format!("{admin_base}/admin/v1/cleanup")).bearer_auth(admin).send().await;
            oracle.lock().unwrap().ops += 1;
            if r.is_err() {
                return;
            }
        }
    }
}

/// Requests in flight while verifying after a restart.
const VERIFY_CONCURRENCY: usize = 20;

/// What one verification after a restart checked.
#[derive(Default, Clone, Copy)]
struct Checked {
    /// Uploads downloaded and found intact: every acknowledged one, every restart, and each
    /// upload whose lost answer turned out to be a success.
    uploads: u64,
    /// Acknowledged deletes found still deleted.
    deletes: u64,
}

/// The attachment's metadata as the agent key sees it: (status, body).
async fn state(http: reqwest::Client, base: String, agent: String, id: String) -> (u16, Value) {
    let r = http.get(format!("{base}/v1/attachments/{id}")).bearer_auth(agent).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json::<Value>().await.unwrap_or(Value::Null))
}

/// Downloads through the signed URL in `v` and hashes the bytes.
async fn fetch_sha(http: &reqwest::Client, v: &Value) -> String {
    let url = v["download_url"]["url"].as_str().expect("uploaded attachments have a download URL");
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "download {url}");
    hex::encode(Sha256::digest(r.bytes().await.unwrap()))
}

/// What one id turned out to be after the restart.
enum Seen {
    /// An acknowledged upload, present with the right bytes.
    Intact,
    /// An acknowledged delete, still deleted; or one whose answer was lost, now resolved.
    Deleted(bool),
    /// Nothing to record: a refused upload not visible as uploaded, or a delete whose answer
    /// was lost and which did not take effect (the upload stays acknowledged).
    Nothing,
    /// An upload whose answer was lost: uploaded with the right bytes (true) or not.
    Resolved(bool),
}

/// Checks the restarted daemon against the oracle: EVERY acknowledged upload is downloaded
/// and hashed, every acknowledged delete is looked up, every refused upload too; resolves the
/// unknowns. Runs [`VERIFY_CONCURRENCY`] requests at a time.
async fn verify(d: &Daemon, oracle: &Mutex<Oracle>) -> Checked {
    use futures_util::StreamExt;
    let (acked, deleted, refused, unknown, delete_unknown) = {
        let o = oracle.lock().unwrap();
        (o.acked.clone(), o.deleted.clone(), o.refused.clone(), o.unknown.clone(), o.delete_unknown.clone())
    };
    let delete_unknown = Arc::new(delete_unknown);
    // (kind, id, sha): 0 acked, 1 deleted, 2 refused, 3 unknown upload, 4 unknown delete.
    let mut work: Vec<(u8, String, String)> = Vec::new();
    work.extend(acked.into_iter().map(|(id, sha)| (0, id, sha)));
    work.extend(deleted.into_iter().map(|id| (1, id, String::new())));
    work.extend(refused.into_iter().map(|id| (2, id, String::new())));
    work.extend(unknown.into_iter().map(|(id, sha)| (3, id, sha)));
    work.extend(delete_unknown.iter().map(|id| (4, id.clone(), String::new())));
    let (base, agent) = (format!("http://{}", d.addr), d.agent_key());
    let results: Vec<(String, String, Seen)> = futures_util::stream::iter(work)
        .map(|(kind, id, sha)| {
            let (http, base, agent, delete_unknown) =
                (d.http.clone(), base.clone(), agent.clone(), delete_unknown.clone());
            async move {
                let (s, v) = state(http.clone(), base, agent, id.clone()).await;
                let seen = match kind {
                    0 if s == 404 && delete_unknown.contains(&id) => Seen::Deleted(true),
                    0 => {
                        assert_eq!(s, 200, "acknowledged upload {id} is missing: {v}");
                        assert!(!v["uploaded_at"].is_null(), "acknowledged upload {id} is not uploaded");
                        assert_eq!(fetch_sha(&http, &v).await, sha, "acknowledged upload {id} has wrong bytes");
                        Seen::Intact
                    }
                    1 => {
                        assert_eq!(s, 404, "deleted {id} came back: {v}");
                        Seen::Deleted(false)
                    }
                    2 => {
                        assert!(s == 404 || v["uploaded_at"].is_null(), "refused upload {id} is visible as uploaded");
                        Seen::Nothing
                    }
                    3 if s == 200 && !v["uploaded_at"].is_null() => {
                        assert_eq!(
                            fetch_sha(&http, &v).await,
                            sha,
                            "upload {id} (answer lost) is visible with wrong bytes"
                        );
                        Seen::Resolved(true)
                    }
                    3 => Seen::Resolved(false),
                    _ if s == 404 => Seen::Deleted(true),
                    _ => Seen::Nothing,
                };
                (id, sha, seen)
            }
        })
        .buffer_unordered(VERIFY_CONCURRENCY)
        .collect()
        .await;
    let mut checked = Checked::default();
    {
        let mut o = oracle.lock().unwrap();
        for (id, sha, seen) in results {
            match seen {
                Seen::Intact => checked.uploads += 1,
                Seen::Deleted(false) => checked.deletes += 1,
                Seen::Deleted(true) => {
                    // A delete whose answer was lost took effect.
                    o.delete_unknown.remove(&id);
                    o.acked.remove(&id);
                    o.deleted.insert(id);
                }
                Seen::Nothing => {}
                Seen::Resolved(uploaded) => {
                    // Uploaded despite the lost answer: its bytes were checked like an ack's.
                    checked.uploads += u64::from(uploaded);
                    o.unknown.remove(&id);
                    if uploaded {
                        o.acked.insert(id, sha);
                    }
                }
            }
        }
        // Every lost delete answer is resolved now, one way or the other.
        o.delete_unknown.clear();
    }
    let (s, f) = d.admin(reqwest::Method::POST, "fsck", None).await;
    assert_eq!(s, 200);
    assert_eq!(f["ok"], true, "fsck after restart: {f}");
    checked
}

async fn run_crash_loop(cycles: u64) {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("crash loop: {cycles} cycles, seed {seed}");
    let mut rng = Rng::new(seed);
    let mut d = Daemon::start_with(opts()).await;
    let oracle = Arc::new(Mutex::new(Oracle::default()));
    let (mut verified, mut deletes_checked, mut most, mut verify_time) = (0u64, 0u64, 0u64, Duration::ZERO);
    let started = Instant::now();
    for cycle in 0..cycles {
        let ctx = Arc::new((d.addr.clone(), d.client_key(), d.admin_token(), reqwest::Client::new(), d.admin_base()));
        let run_for = Duration::from_millis(150 + rng.below(500));
        let until = Instant::now() + run_for + Duration::from_secs(5);
        let workers: Vec<_> =
            (0..6).map(|_| tokio::spawn(worker(ctx.clone(), oracle.clone(), rng.next_u64(), until))).collect();
        tokio::time::sleep(run_for).await;
        d.kill9();
        for w in workers {
            w.await.unwrap();
        }
        d.restart_after_stop().await;
        let t = Instant::now();
        let checked = verify(&d, &oracle).await;
        verify_time += t.elapsed();
        (verified, deletes_checked, most) =
            (verified + checked.uploads, deletes_checked + checked.deletes, most.max(checked.uploads));
        if cycle % 10 == 9 {
            let o = oracle.lock().unwrap();
            eprintln!(
                "cycle {}: {} ops, {} acknowledged (all {} verified after this restart), {} deleted, {verified} verifications, {:.1} s verifying",
                cycle + 1,
                o.ops,
                o.acked.len(),
                checked.uploads,
                o.deleted.len(),
                verify_time.as_secs_f64()
            );
        }
    }
    // Drain: delete everything, let reservations lapse, clean up: nothing may be left.
    let acked: Vec<String> = oracle.lock().unwrap().acked.keys().cloned().collect();
    for id in &acked {
        let s = d.delete(&d.client_key(), id).await.0;
        assert!(s == 200 || s == 404);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    d.cleanup().await;
    d.cleanup().await;
    let u = d.usage(Some("u")).await;
    assert_eq!(
        (u["used_bytes"].as_u64(), u["file_count"].as_u64(), u["user_used_bytes"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "{u}"
    );
    let (_, f) = d.admin(reqwest::Method::POST, "fsck", None).await;
    assert_eq!(f["ok"], true, "{f}");
    assert_eq!(f["records"], 0, "every record reclaimed: {f}");
    assert!(f["orphan_files"].as_array().unwrap().is_empty(), "{f}");
    let blob_files = walk_files(&d.data.join("blobs"));
    assert!(blob_files.is_empty(), "blob files left: {blob_files:?}");
    let segments =
        walk_files(&d.data.join("segments")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "seg")).count();
    assert!(segments <= 1, "{segments} segment files left after everything was reclaimed");
    let o = oracle.lock().unwrap();
    eprintln!(
        "crash loop done: {cycles} kill -9 cycles in {:.0} s ({:.0} s verifying), {} operations, {} uploads acknowledged; \
         {verified} downloads of acknowledged uploads verified (every one after every restart, at most {most} at once), \
         {} deletes, {deletes_checked} checks that a delete held",
        started.elapsed().as_secs_f64(),
        verify_time.as_secs_f64(),
        o.ops,
        o.acked.len() + o.deleted.len(),
        o.deleted.len()
    );
}

fn walk_files(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                out.extend(walk_files(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_loop() {
    run_crash_loop(20).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "long mode: ATTACHD_CRASH_CYCLES (default 300) cycles"]
async fn crash_loop_long() {
    let cycles = std::env::var("ATTACHD_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    run_crash_loop(cycles).await;
}
