//! PUT /v1/ingest/attachment/:id: streaming, verification, failures that keep or discard the
//! reservation, concurrency, expiry, both storage paths and both io engines.
//!
//! No fixed sleep stands in for "the daemon got there": tests wait for an observable state
//! (an `Expect: 100-continue` answer, a metric, a probe request) with a deadline.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Daemon, Opts, data, sha_hex};

/// Writes a raw PUT head (and `body` bytes) on a fresh connection, leaving it open.
async fn raw_put(d: &Daemon, id: &str, content_length: usize, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(&d.addr).await.unwrap();
    let head = format!(
        "PUT /v1/ingest/attachment/{id} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {content_length}\r\n\r\n",
        d.client_key()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    s.flush().await.unwrap();
    s
}

/// Polls `probe` every 20 ms until it returns `Some`, panicking with `what` after 10 s.
async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of `attachd_uploads_total{outcome="…"}` on the ops listener.
async fn uploads_with_outcome(d: &Daemon, outcome: &str) -> u64 {
    let ops = d.ops_addr.as_ref().expect("ops listener");
    let text = d.http.get(format!("http://{ops}/metrics")).send().await.unwrap().text().await.unwrap();
    let prefix = format!("attachd_uploads_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

async fn read_status(s: &mut TcpStream) -> u16 {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn small_and_large_uploads_round_trip() {
    let d = Daemon::start_with(Opts::default().set("storage", "standalone_threshold_bytes = 65536")).await;
    for (len, seed) in [(1usize, 1u64), (4096, 2), (65536, 3), (65537, 4), (3 << 20, 5)] {
        let bytes = data(len, seed);
        let id = d.reserve(&bytes, Some("user_42")).await;
        let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["uploaded"], true);
        assert_eq!(v["attachment_id"], json!(id));
        assert_eq!(v["size_bytes"], json!(len));
        assert_eq!(v["sha256"], json!(sha_hex(&bytes)));
        assert!(v["download_url"].as_str().unwrap().contains("/v1/attachments/download?t="));
        assert!(v["download_url_expires_at"].as_str().unwrap().ends_with('Z'));
        // The PUT's own URL works too.
        let direct = d.http.get(v["download_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
        assert!(direct[..] == bytes[..], "len {len}");
        assert!(d.download(&id).await == bytes, "len {len}");
        let standalone = d.data.join("blobs").join(d.b("project_id"));
        let month_dirs: Vec<_> = std::fs::read_dir(&standalone).map(|r| r.flatten().collect()).unwrap_or_default();
        let on_disk = month_dirs.iter().any(|m| m.path().join(&id).exists());
        assert_eq!(on_disk, len > 65536, "len {len}: standalone file presence");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn put_status_codes() {
    let d = Daemon::start().await;
    let key = d.client_key();
    // Unknown and malformed ids.
    let (s, v) = d.put(&key, &uuid::Uuid::new_v4().to_string(), b"x".to_vec()).await;
    assert_eq!((s, v["error"].as_str().unwrap()), (404, "Attachment not found"));
    let (s, v) = d.put(&key, "not-a-uuid", b"x".to_vec()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (400, "bad_parameter"));
    // Wrong content type: 400 for JSON/text (as the reference), 415 otherwise; the
    // reservation survives both.
    let bytes = b"hello bytes".to_vec();
    let id = d.reserve(&bytes, None).await;
    for (ct, status) in [("application/json", 400), ("text/plain; charset=utf-8", 400), ("image/png", 415)] {
        let r = d
            .http
            .put(d.url(&format!("/v1/ingest/attachment/{id}")))
            .bearer_auth(&key)
            .header("content-type", ct)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{ct}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["error"], "Request body must be sent with Content-Type: application/octet-stream");
    }
    // Uploaded: 200 then 409.
    assert_eq!(d.put(&key, &id, bytes.clone()).await.0, 200);
    let (s, v) = d.put(&key, &id, bytes.clone()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (409, "already_uploaded"));
    // Deleted: 410.
    let id2 = d.reserve(&bytes, None).await;
    assert_eq!(d.delete(&key, &id2).await.0, 200);
    let (s, v) = d.put(&key, &id2, bytes.clone()).await;
    assert_eq!((s, v["error"].as_str().unwrap()), (410, "Attachment has been deleted"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mismatches_discard_the_reservation_and_release_quota() {
    let d = Daemon::start().await;
    let key = d.client_key();
    let bytes = data(1000, 7);
    // Too many bytes (Content-Length says so): 413 size_mismatch.
    let id = d.reserve(&bytes, Some("u")).await;
    let mut more = bytes.clone();
    more.push(0);
    let (s, v) = d.put(&key, &id, more).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (413, "size_mismatch"));
    assert_eq!(v["message"], "Upload exceeded declared size");
    assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await.0, 404);
    // Too few: 400 size_mismatch with the reference's message.
    let id = d.reserve(&bytes, Some("u")).await;
    let (s, v) = d.put(&key, &id, bytes[..600].to_vec()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (400, "size_mismatch"));
    assert_eq!(v["message"], "Uploaded size 600 does not match declared 1000");
    // A chunked body (no Content-Length) that runs past the declared size.
    let id = d.reserve(&bytes, Some("u")).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(bytes.clone()), Ok(vec![1, 2, 3])];
    let r = d
        .http
        .put(d.url(&format!("/v1/ingest/attachment/{id}")))
        .bearer_auth(&key)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Same length, different bytes: 400 hash_mismatch; the id is gone.
    let id = d.reserve(&bytes, Some("u")).await;
    let (s, v) = d.put(&key, &id, data(1000, 8)).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (400, "hash_mismatch"));
    assert_eq!(v["message"], "Uploaded bytes do not match declared sha256");
    assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await.0, 404);
    assert_eq!(d.put(&key, &id, bytes.clone()).await.0, 404);
    // Every failed reservation released its quota; nothing is left on disk for them.
    let u = d.usage(Some("u")).await;
    assert_eq!(
        (u["used_bytes"].as_u64(), u["file_count"].as_u64(), u["user_used_bytes"].as_u64()),
        (Some(0), Some(0), Some(0))
    );
    assert_eq!(std::fs::read_dir(d.data.join("blobs/.tmp")).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_goes_away_leaves_the_reservation_retryable() {
    let d = Daemon::start_with(Opts::default().set("storage", "standalone_threshold_bytes = 4096")).await;
    for (i, len) in [2000usize, 100_000].into_iter().enumerate() {
        let bytes = data(len, 9);
        let id = d.reserve(&bytes, None).await;
        let s = raw_put(&d, &id, len, &bytes[..len / 2]).await;
        drop(s); // disconnect mid-body
        // The daemon has seen the upload end as aborted (and so released its claim).
        let aborted = i as u64 + 1;
        wait_for("the abandoned upload to be counted as aborted", || async {
            (uploads_with_outcome(&d, "aborted").await >= aborted).then_some(())
        })
        .await;
        let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await;
        assert_eq!(g["uploaded_at"], serde_json::Value::Null, "still pending");
        let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
        assert_eq!(s, 200, "the SDK's retry succeeds: {v}");
        assert!(d.download(&id).await == bytes);
    }
    assert_eq!(std::fs::read_dir(d.data.join("blobs/.tmp")).unwrap().count(), 0, "no temporary file leaked");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_times_out_with_408_and_stays_retryable() {
    let d = Daemon::start_with(Opts::default().set("server", "body_idle_timeout_secs = 1")).await;
    let bytes = data(5000, 10);
    let id = d.reserve(&bytes, None).await;
    let mut s = raw_put(&d, &id, bytes.len(), &bytes[..100]).await;
    assert_eq!(read_status(&mut s).await, 408);
    assert_eq!(d.put(&d.client_key(), &id, bytes).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_puts_one_wins_the_other_gets_409() {
    let d = Daemon::start().await;
    let bytes = data(10_000, 11);
    let id = d.reserve(&bytes, None).await;
    // The first PUT asks `Expect: 100-continue`; the daemon claims the upload before it reads
    // the body, so once `100 Continue` arrives the claim is held.
    let mut first = TcpStream::connect(&d.addr).await.unwrap();
    let head = format!(
        "PUT /v1/ingest/attachment/{id} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        d.client_key(),
        bytes.len()
    );
    first.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(read_status(&mut first).await, 100, "the first PUT is told to send its body");
    first.write_all(&bytes[..5000]).await.unwrap();
    let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (409, "upload_in_progress"));
    first.write_all(&bytes[5000..]).await.unwrap();
    assert_eq!(read_status(&mut first).await, 200);
    let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
    assert_eq!((s, v["code"].as_str().unwrap()), (409, "already_uploaded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reservations_expire_and_release_their_quota() {
    let d = Daemon::start_with(
        Opts::default()
            .set("uploads", "reservation_ttl_secs = 1")
            .set("uploads", "reservation_sweep_interval_secs = 1"),
    )
    .await;
    let bytes = data(100, 12);
    let id = d.reserve(&bytes, Some("u")).await;
    assert_eq!(d.usage(None).await["used_bytes"], 100);
    // The sweeper releases the reservation once it has lapsed (1 s TTL, 1 s sweeps).
    wait_for("the sweeper to release the lapsed reservation's quota", || async {
        (d.usage(None).await["used_bytes"] == 0).then_some(())
    })
    .await;
    assert_eq!(d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await.0, 404);
    let (s, v) = d.put(&d.client_key(), &id, bytes).await;
    assert!(s == 410 || s == 404, "a PUT after expiry is refused: {s} {v}");
    if s == 410 {
        assert_eq!(v["code"], "reservation_expired");
    }
}

/// A PUT after the reservation's own `expires_at` (and before any sweep) is 410
/// `reservation_expired`, not a 404: the sweeper runs hourly here, so only the clock decides.
#[tokio::test(flavor = "multi_thread")]
async fn a_put_after_the_reservation_lapsed_is_410() {
    let d = Daemon::start_with(
        Opts::default()
            .set("uploads", "reservation_ttl_secs = 1")
            .set("uploads", "reservation_sweep_interval_secs = 3600"),
    )
    .await;
    let bytes = data(100, 14);
    let (s, v) = d.reserve_json(&d.client_key(), crate::harness::reserve_body(&bytes, None)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["attachment_id"].as_str().unwrap().to_string();
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let expires = time::OffsetDateTime::parse(v["expires_at"].as_str().unwrap(), rfc3339).unwrap();
    // The answer's own deadline (to the millisecond) is the condition; wait until it has passed.
    let lapsed = expires + time::Duration::milliseconds(2);
    wait_for("the reservation's expires_at to pass", || async {
        (time::OffsetDateTime::now_utc() > lapsed).then_some(())
    })
    .await;
    let (s, v) = d.put(&d.client_key(), &id, bytes.clone()).await;
    assert_eq!((s, v["code"].as_str().unwrap_or("")), (410, "reservation_expired"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sync_engine_serves_the_same_api() {
    let d = Daemon::start_with(
        Opts::default().set("storage", "io_engine = \"sync\"").set("storage", "standalone_threshold_bytes = 4096"),
    )
    .await;
    assert!(d.log().contains("engine=\"sync\"") || d.log().contains("engine=sync"), "{}", d.log());
    for len in [10usize, 50_000] {
        let bytes = data(len, 13);
        let id = d.upload(&bytes).await;
        assert!(d.download(&id).await == bytes);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn many_concurrent_small_uploads_share_commits_and_all_land() {
    let d = std::sync::Arc::new(Daemon::start().await);
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let bytes = data(1024 + i as usize, i);
            let id = d.upload(&bytes).await;
            (id, bytes)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.push(t.await.unwrap());
    }
    for (id, bytes) in &all {
        assert!(d.download(id).await == *bytes);
    }
    assert_eq!(d.usage(None).await["file_count"], 64);
}
