//! Limits that keep one client from taking the daemon down: caps on pending reservations per
//! project, JSON endpoints that refuse cross-site simple requests, memory budgets for upload
//! and download bytes, a connection cap and a write stall timeout. Each limit answers with a
//! clean, retryable status while everyone else is still served.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Daemon, Opts, data, reserve_body, sha_hex};

#[tokio::test(flavor = "multi_thread")]
async fn pending_reservations_are_capped_per_project_by_count_and_bytes() {
    let d = Daemon::start_with(
        Opts::default()
            .set("uploads", "max_pending_per_project = 5")
            .set("uploads", "max_pending_bytes_per_project = 100000"),
    )
    .await;
    let mut pending = Vec::new();
    for i in 0..5 {
        pending.push((d.reserve(&data(100, i), None).await, data(100, i)));
    }
    let r = d
        .http
        .post(d.url("/v1/ingest/attachment"))
        .bearer_auth(d.client_key())
        .json(&reserve_body(&data(100, 9), None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "60");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "too_many_pending_uploads", "{v}");
    // Uploading one frees a place; the refused reservation left nothing behind.
    let (id, bytes) = pending.pop().unwrap();
    assert_eq!(d.put(&d.client_key(), &id, bytes).await.0, 200);
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(&data(100, 9), None)).await;
    assert_eq!(s, 201, "{v}");
    // Bytes: one reservation larger than what may be pending, though the quota allows it.
    for (id, _) in &pending {
        assert_eq!(d.delete(&d.client_key(), id).await.0, 200);
    }
    let sized = |n: u64| {
        let mut b = reserve_body(b"x", None);
        b["size_bytes"] = json!(n);
        b
    };
    let (s, v) = d.reserve_json(&d.client_key(), sized(60_000)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = d.reserve_json(&d.client_key(), sized(60_000)).await;
    assert_eq!((s, v["code"].as_str()), (429, Some("too_many_pending_uploads")), "{v}");
    // One file larger than the cap can never be admitted: a final 413, not a 429 to retry.
    let (s, v) = d.reserve_json(&d.client_key(), sized(200_000)).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("attachment_too_large")), "{v}");
    assert_eq!(d.usage(None).await["file_count"], 3, "one uploaded, two pending");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_endpoints_refuse_bodies_not_declared_json() {
    let d = Daemon::start().await;
    let body = serde_json::to_vec(&reserve_body(b"x", None)).unwrap();
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data")] {
        let mut rb = d.http.post(d.url("/v1/ingest/attachment")).bearer_auth(d.client_key()).body(body.clone());
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 415, "{ct:?}");
    }
    let r = d
        .http
        .post(d.url("/v1/attachments/link"))
        .header("cookie", format!("token={}", d.agent_key()))
        .header("content-type", "text/plain")
        .body(r#"{"client_event_id":"550e8400-e29b-41d4-a716-446655440000","event_id":"550e8400-e29b-41d4-a716-446655440001"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a cookie is not a credential");
    for ct in ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"] {
        let r = d
            .http
            .post(d.url("/v1/ingest/attachment"))
            .bearer_auth(d.client_key())
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{ct}");
    }
    assert_eq!(d.usage(None).await["file_count"], 3, "only the JSON ones were reserved");
}

/// Resident set size of `pid`, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// The request head of a chunked PUT of attachment `id` with the client key.
fn chunked_put_head(d: &Daemon, id: &str) -> String {
    format!(
        "PUT /v1/ingest/attachment/{id} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n",
        d.client_key()
    )
}

/// Opens a chunked PUT of a reserved `declared`-byte body and sends all but its last byte in
/// 1-byte chunks, then stalls. Returns the open connection.
async fn stalled_chunked_put(d: &Daemon, id: &str, payload: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(&d.addr).await.unwrap();
    s.write_all(chunked_put_head(d, id).as_bytes()).await.unwrap();
    let mut body = Vec::with_capacity(payload.len() * 6);
    for b in &payload[..payload.len() - 1] {
        body.extend_from_slice(b"1\r\n");
        body.push(*b);
        body.extend_from_slice(b"\r\n");
    }
    // A refused upload is answered and closed before its body is read: the write then fails.
    let _ = s.write_all(&body).await;
    s
}

/// Reads one HTTP response head from `s`: the status, or 0 if the connection closed first.
async fn status_of(s: &mut TcpStream) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(20), s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return 0,
        }
    }
    String::from_utf8_lossy(&buf).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_chunked_uploads_stay_within_the_upload_budget() {
    // 24 uploads of 256 KiB sent as 1-byte chunks and stalled before their last byte, against a
    // budget of 4 MiB: 15 fit (256 KiB + 4 KiB each), the rest are refused with 503 at once.
    let d = Daemon::start_with(
        Opts::default()
            .set("server", "upload_memory_bytes = 4194304")
            .set("server", "body_idle_timeout_secs = 60")
            .set("storage", "standalone_threshold_bytes = 1048576"),
    )
    .await;
    let pid = d.pid();
    let before = rss(pid);
    let size = 256 * 1024;
    let mut conns = Vec::new();
    for i in 0..24u64 {
        let payload = data(size, i);
        let id = d.reserve(&payload, None).await;
        conns.push((stalled_chunked_put(&d, &id, &payload).await, id, payload));
    }
    // A refused upload is answered at once, before its body is read; an admitted one waits
    // for its last byte, so it stays silent.
    let probes = conns.into_iter().map(|(s, id, payload)| async move {
        let mut b = [0u8; 1];
        let answered = tokio::time::timeout(Duration::from_secs(3), s.peek(&mut b)).await.is_ok();
        (s, id, payload, answered)
    });
    let mut stalled = Vec::new();
    let mut refused = 0;
    for (mut s, id, payload, answered) in futures_util::future::join_all(probes).await {
        if answered {
            // The 503 (or, when the reset of the unread body overtook it, nothing).
            assert!(matches!(status_of(&mut s).await, 503 | 0));
            refused += 1;
        } else {
            stalled.push((s, id, payload));
        }
    }
    assert_eq!(stalled.len(), 15, "{refused} refused");
    let metrics = d.http.get(format!("{}/metrics", d.admin_base())).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("attachd_shed_total{what=\"upload\"} 9"), "{metrics}");
    let held = rss(pid).saturating_sub(before);
    eprintln!(
        "24 stalled chunked 256 KiB uploads: RSS {} -> {} MiB (+{} KiB)",
        before >> 20,
        rss(pid) >> 20,
        held >> 10
    );
    // ~3.8 MiB of payload admitted; before the budget this cost ~33x the payload.
    assert!(held < 32 << 20, "RSS grew by {} MiB", held >> 20);
    // Others are still served, and every stalled upload completes when its client resumes.
    let other = d.upload(&data(1000, 99)).await;
    assert!(d.download(&other).await == data(1000, 99));
    for (mut s, id, payload) in stalled {
        s.write_all(&[b'1', b'\r', b'\n', *payload.last().unwrap(), b'\r', b'\n', b'0', b'\r', b'\n', b'\r', b'\n'])
            .await
            .unwrap();
        assert_eq!(status_of(&mut s).await, 200);
        assert_eq!(sha_hex(&d.download(&id).await), sha_hex(&payload));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_that_are_never_read_are_bounded_and_cut_off() {
    let d = Daemon::start_with(
        Opts::default()
            .set("storage", "standalone_threshold_bytes = 65536")
            .set("server", "download_memory_bytes = 2097152")
            .set("server", "send_timeout_secs = 2"),
    )
    .await;
    let big = data(32 << 20, 1);
    let id = d.upload(&big).await;
    let url = d.download_url(&id).await;
    let path = url.split_once(&d.addr).unwrap().1.to_string();
    let pid = d.pid();
    let before = rss(pid);
    // 40 downloads of 32 MiB that never read past the response head (small receive windows,
    // so the kernel's socket buffers cannot swallow the file).
    let mut idle = Vec::new();
    let mut refused = 0;
    for _ in 0..40 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        let mut s = sock.connect(d.addr.parse().unwrap()).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        match &head[9..12] {
            b"200" => idle.push(s),
            b"503" => refused += 1,
            other => panic!("unexpected status {}", String::from_utf8_lossy(other)),
        }
    }
    let grown = rss(pid).saturating_sub(before);
    eprintln!("40 unread 32 MiB downloads: {} admitted, {refused} refused, RSS +{} KiB", idle.len(), grown >> 10);
    assert!(refused > 0, "the 2 MiB budget refuses some");
    // A conditional GET that matches needs no bytes, so the spent budget does not refuse it.
    let etag = format!("\"{}\"", sha_hex(&big));
    let r = d.http.get(&url).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    assert!(grown < 24 << 20, "RSS grew by {} MiB", grown >> 20);
    // The stalled downloads are cut off after send_timeout_secs, which frees their budget.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = d.http.get(&url).send().await.unwrap();
        if r.status() == 200 {
            assert_eq!(r.bytes().await.unwrap().len(), big.len());
            break;
        }
        assert_eq!(r.status(), 503);
        assert!(Instant::now() < deadline, "budget never freed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_get_a_clean_503_and_the_rest_are_served() {
    let d = Daemon::start_with(Opts::default().set("server", "max_connections = 50")).await;
    // 50 idle keep-alive connections take every slot (their headers never finish).
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(&d.addr).await.unwrap();
        s.write_all(b"GET /v1/attachments HTTP/1.1\r\nhost: x\r\n").await.unwrap();
        held.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        let mut s = TcpStream::connect(&d.addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
        let mut text = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut text)).await;
        if text.starts_with("HTTP/1.1 503") {
            assert!(text.contains("server_busy") && text.contains("retry-after: 1"), "{text}");
            break s;
        }
        assert!(Instant::now() < deadline, "no 503 at the cap: {text}");
    };
    s.shutdown().await.ok();
    // Freeing slots lets new clients in.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.http.get(d.url("/health")).send().await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(Instant::now() < deadline, "still refused after the slots were freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_trickled_inside_every_idle_period_is_cut_off_by_the_minimum_rate() {
    let d = Daemon::start_with(
        Opts::default().set("server", "body_idle_timeout_secs = 1").set("server", "body_min_rate_bytes_per_sec = 1000"),
    )
    .await;
    let payload = data(10_000, 5);
    let id = d.reserve(&payload, None).await;
    let mut s = TcpStream::connect(&d.addr).await.unwrap();
    s.write_all(chunked_put_head(&d, &id).as_bytes()).await.unwrap();
    // One byte every 300 ms: never idle for a second, far below 1,000 bytes per second.
    let started = Instant::now();
    let mut answer = [0u8; 12];
    for b in &payload {
        if s.write_all(&[b'1', b'\r', b'\n', *b, b'\r', b'\n']).await.is_err() {
            break;
        }
        tokio::select! {
            r = s.read_exact(&mut answer) => { r.unwrap(); break; }
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the trickle was never cut off");
    }
    assert_eq!(&answer[9..12], b"408", "{}", String::from_utf8_lossy(&answer));
    // The reservation stays retryable: a client at a normal pace completes it.
    assert_eq!(d.put(&d.client_key(), &id, payload).await.0, 200);
}
