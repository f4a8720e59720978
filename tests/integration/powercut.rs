//! Power loss, simulated: the in-process daemon runs over `PowerCutEngine` (segments, blobs,
//! their directories) with a `CommitLog` on the index, under concurrent uploads (small ones to
//! segments, large ones to standalone files), deletes and cleanup. At a random moment the power
//! is cut; everything not synced is then undone on disk and the index is rebuilt with only the
//! batches a synced WAL covered. The daemon restarts on that state and every acknowledged upload
//! must be there with its bytes, every acknowledged delete must stay deleted, fsck must be clean.
//! Unlike `kill -9` (the page cache survives it), this fails when an fsync is missing: the
//! break-checks listed in docs/RELIABILITY.md were each run and each made it fail.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attachd::index::replay::{CommitLog, copy_dir};
use attachd::store::io::powercut::PowerCutEngine;
use attachd::store::io::{IoEngine, sync::SyncEngine, uring::UringEngine};
use serde_json::Value;

use crate::harness::{Daemon, Opts, data, reserve_body, sha_hex};
use crate::inprocess::InProcess;
use crate::oracle::{Oracle, Rng};

/// What the clients were told.
fn opts(data_dir: &Path) -> Opts {
    let mut o = Opts::default()
        .set("storage", "standalone_threshold_bytes = 8192")
        .set("storage", "segment_bytes = 1048576")
        .set("cleanup", "soft_delete_grace_secs = 0")
        .set("cleanup", "orphan_grace_secs = 3600");
    o.data_dir = Some(data_dir.to_path_buf());
    o
}

async fn worker(
    d: Arc<(String, String, String, reqwest::Client)>,
    oracle: Arc<Mutex<Oracle>>,
    seed: u64,
    stop: Arc<AtomicBool>,
    tail: Arc<AtomicBool>,
) {
    let (addr, key, admin, http) = (&d.0, &d.1, &d.2, &d.3);
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::SeqCst) {
        let roll = rng.below(100);
        // The tail before some cuts: only reserves (unsynced) and deletes, so a delete's own
        // commit is the last one that must be synced.
        let tail = tail.load(Ordering::SeqCst);
        if roll < 78 {
            let len = if rng.below(4) == 0 { 9000 + rng.below(150_000) } else { 1 + rng.below(6000) } as usize;
            let bytes = data(len, rng.next_u64());
            let sha = sha_hex(&bytes);
            let url = format!("http://{addr}/v1/ingest/attachment");
            let Ok(r) = http.post(url).bearer_auth(key).json(&reserve_body(&bytes, Some("u"))).send().await else {
                continue;
            };
            if r.status() != 201 {
                continue;
            }
            let Ok(v) = r.json::<Value>().await else { continue };
            let id = v["attachment_id"].as_str().unwrap().to_string();
            if tail {
                continue;
            }
            let put = http
                .put(format!("http://{addr}/v1/ingest/attachment/{id}"))
                .bearer_auth(key)
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .await;
            let mut o = oracle.lock().unwrap();
            o.put_answered(id, sha, put.ok().map(|r| r.status().as_u16()));
        } else if roll < 96 {
            let victim = {
                let o = oracle.lock().unwrap();
                let n = o.acked.len() as u64;
                o.acked.keys().nth(rng.below(n) as usize).cloned()
            };
            let Some(id) = victim else { continue };
            let r = http.delete(format!("http://{addr}/v1/attachments/{id}")).bearer_auth(key).send().await;
            let mut o = oracle.lock().unwrap();
            match r.map(|r| r.status().as_u16()) {
                Ok(200) => {
                    o.acked.remove(&id);
                    o.deleted.insert(id);
                }
                Ok(_) => {}
                Err(_) => {
                    o.acked.remove(&id);
                    o.delete_unknown.insert(id);
                }
            }
        } else if !tail {
            // Hard deletes (blob removal + directory fsync) and compaction (segment removal).
            let _ = http.post(format!("http://{addr}/admin/v1/cleanup")).bearer_auth(admin).send().await;
        }
    }
}

/// A large upload streamed slowly (about 2.4 s), so one standalone file is being written when
/// the power goes.
async fn slow_upload(d: Arc<(String, String, String, reqwest::Client)>, oracle: Arc<Mutex<Oracle>>, seed: u64) {
    let (addr, key, http) = (&d.0, &d.1, &d.3);
    let bytes = data(600_000, seed);
    let sha = sha_hex(&bytes);
    let url = format!("http://{addr}/v1/ingest/attachment");
    let r = http.post(url).bearer_auth(key).json(&reserve_body(&bytes, Some("u"))).send().await.unwrap();
    if r.status() != 201 {
        return; // over quota in a long run: the other clients keep the load going
    }
    let id = r.json::<Value>().await.unwrap()["attachment_id"].as_str().unwrap().to_string();
    let chunks: Vec<Vec<u8>> = bytes.chunks(20_000).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
        tokio::time::sleep(Duration::from_millis(80)).await;
        it.next().map(|c| (Ok::<_, std::io::Error>(c), it))
    });
    let put = http
        .put(format!("http://{addr}/v1/ingest/attachment/{id}"))
        .bearer_auth(key)
        .header("content-type", "application/octet-stream")
        .header("content-length", bytes.len().to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    let mut o = oracle.lock().unwrap();
    o.put_answered(id, sha, put.ok().map(|r| r.status().as_u16()));
}

/// Checks the daemon restarted on the post-cut state against what clients were told.
async fn verify(d: &Daemon, o: &mut Oracle, cycle: usize) -> usize {
    let agent = d.agent_key();
    let state = |id: String| {
        let (http, url, agent) = (d.http.clone(), d.url(&format!("/v1/attachments/{id}")), agent.clone());
        async move {
            let r = http.get(url).bearer_auth(agent).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let sha_of = |v: Value| {
        let http = d.http.clone();
        async move {
            let url = v["download_url"]["url"].as_str().expect("an uploaded attachment has a download URL");
            let r = http.get(url).send().await.unwrap();
            let (s, id) = (r.status(), &v["id"]);
            assert_eq!(s, 200, "cycle {cycle}: the bytes of {id} (size {}) cannot be read", v["size_bytes"]);
            sha_hex(&r.bytes().await.unwrap())
        }
    };
    for (id, sha) in &o.acked {
        let (s, v) = state(id.clone()).await;
        assert_eq!(s, 200, "cycle {cycle}: acknowledged upload {id} lost: {v}");
        assert!(!v["uploaded_at"].is_null(), "cycle {cycle}: acknowledged upload {id} is pending again: {v}");
        assert_eq!(&sha_of(v).await, sha, "cycle {cycle}: acknowledged upload {id} has wrong bytes");
    }
    for id in &o.deleted {
        assert_eq!(state(id.clone()).await.0, 404, "cycle {cycle}: acknowledged delete of {id} undone");
    }
    for id in &o.refused {
        let (s, v) = state(id.clone()).await;
        assert!(s == 404 || v["uploaded_at"].is_null(), "cycle {cycle}: refused upload {id} is visible: {v}");
    }
    for (id, sha) in std::mem::take(&mut o.unknown) {
        let (s, v) = state(id.clone()).await;
        if s == 200 && !v["uploaded_at"].is_null() {
            assert_eq!(sha_of(v).await, sha, "cycle {cycle}: upload {id} (answer lost) has wrong bytes");
            o.acked.insert(id, sha);
        }
    }
    for id in std::mem::take(&mut o.delete_unknown) {
        if state(id.clone()).await.0 == 404 {
            o.deleted.insert(id);
        }
    }
    let (s, v) = d.admin(reqwest::Method::POST, "fsck", None).await;
    assert_eq!((s, &v["ok"]), (200, &Value::Bool(true)), "cycle {cycle}: fsck after the cut: {v}");
    o.acked.len()
}

fn inner_engine(cycle: usize) -> Arc<dyn IoEngine> {
    match UringEngine::start() {
        Ok(u) if cycle % 2 == 1 => Arc::new(u),
        _ => Arc::new(SyncEngine),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn power_cuts_lose_nothing_acknowledged() {
    let cycles: usize = std::env::var("ATTACHD_POWERCUT_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let seed: u64 = std::env::var("ATTACHD_POWERCUT_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("power-cut test: seed {seed} (ATTACHD_POWERCUT_SEED to replay the timing), {cycles} cuts");
    let mut rng = Rng::new(seed);
    let root = tempfile::tempdir().unwrap();
    let (data_dir, base, stash) = (root.path().join("data"), root.path().join("index-base"), root.path().join("stash"));
    let mut o = Oracle::default();
    let (mut rolled_back, mut undone, mut lost) = (0, 0, 0);
    for cycle in 0..=cycles {
        let engine = Arc::new(PowerCutEngine::new(inner_engine(cycle), &stash).unwrap());
        let log = Arc::new(CommitLog::new());
        let p = InProcess::start_hooked(opts(&data_dir), engine.clone(), Some(log.clone())).await;
        let acked = if cycle > 0 { verify(&p.d, &mut o, cycle).await } else { 0 };
        if cycle == cycles {
            eprintln!("after {cycles} cuts: {acked} acknowledged uploads and {} deletes verified", o.deleted.len());
            p.stop().await;
            break;
        }
        let shared = Arc::new((p.d.addr.clone(), p.d.client_key(), p.d.admin_token(), p.d.http.clone()));
        let oracle = Arc::new(Mutex::new(std::mem::take(&mut o)));
        let (stop, tail) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let mut workers: Vec<_> = (0..4)
            .map(|_| tokio::spawn(worker(shared.clone(), oracle.clone(), rng.next_u64(), stop.clone(), tail.clone())))
            .collect();
        if cycle % 2 == 0 {
            workers.push(tokio::spawn(slow_upload(shared.clone(), oracle.clone(), rng.next_u64())));
        }
        tokio::time::sleep(Duration::from_millis(400 + rng.below(1600))).await;
        if cycle % 2 == 1 {
            tail.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100 + rng.below(200))).await;
        }
        // The cut: the store first, then the index (an index commit between the two is one
        // that happened just before the power went).
        tokio::task::block_in_place(|| {
            engine.cut();
            log.cut();
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }
        o = std::mem::take(&mut *oracle.lock().unwrap());
        p.stop().await;
        // What the disk holds after the cut.
        let report = engine.restore().unwrap();
        let rebuilt = root.path().join("index-rebuilt");
        let rb = log.rebuild(&base, &rebuilt).unwrap();
        std::fs::remove_dir_all(data_dir.join("index")).unwrap();
        std::fs::rename(&rebuilt, data_dir.join("index")).unwrap();
        let _ = std::fs::remove_dir_all(&base);
        copy_dir(&data_dir.join("index"), &base).unwrap();
        eprintln!(
            "cut {cycle}: {} acked, {} deleted; undid {} files' unsynced bytes and {} directory changes; index kept {} batches ({} synced), lost {}",
            o.acked.len(),
            o.deleted.len(),
            report.files_rolled_back,
            report.entries_undone,
            rb.kept,
            rb.synced,
            rb.lost
        );
        (rolled_back, undone, lost) =
            (rolled_back + report.files_rolled_back, undone + report.entries_undone, lost + rb.lost);
    }
    assert!(o.acked.len() + o.deleted.len() > 50, "the load did something");
    eprintln!("in all: {rolled_back} files rolled back, {undone} directory changes undone, {lost} index batches lost");
    // Lost index batches depend on timing (a synced commit usually lands just before the cut),
    // so they are reported, not required; the slow upload guarantees a file to roll back.
    assert!(rolled_back > 0 && undone > 0, "the cuts had unsynced work to forget");
}
