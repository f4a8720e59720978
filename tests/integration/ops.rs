//! Operating attachd: Prometheus metrics (validated by promtool), health and readiness,
//! graceful drain on SIGTERM, rate limiting, and systemd notification.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Daemon, Opts, data, reserve_body};

async fn scrape(d: &Daemon) -> String {
    let ops = d.ops_addr.as_ref().expect("ops listener enabled");
    let r = d.http.get(format!("http://{ops}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of the first sample line starting with `prefix` (name plus labels).
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn promtool_check(text: &str) {
    let promtool =
        ["/usr/bin/promtool", "/usr/local/bin/promtool"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(promtool) = promtool else {
        panic!("promtool is not installed: run ./scripts/test.sh, which installs Debian's prometheus package");
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_valid_prometheus_and_move() {
    let d = Daemon::start().await;
    let before = scrape(&d).await;
    for i in 0..3u64 {
        d.upload(&data(2048, i)).await;
    }
    let id = d.reserve(&data(10, 99), None).await;
    d.put(&d.client_key(), &id, data(10, 98)).await; // hash mismatch
    let _ = d.download(&d.upload(&data(100, 7)).await).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after = scrape(&d).await;
    promtool_check(&after);
    let ok = r#"attachd_uploads_total{outcome="ok"}"#;
    assert_eq!(sample(&after, ok) - sample(&before, ok), 4.0, "{after}");
    assert_eq!(sample(&after, r#"attachd_uploads_total{outcome="hash_mismatch"}"#), 1.0);
    assert!(sample(&after, "attachd_uploaded_bytes_total") >= (3 * 2048 + 100) as f64);
    assert!(sample(&after, "attachd_downloaded_bytes_total") >= 100.0);
    assert!(sample(&after, r#"attachd_http_requests_total{route="upload",status="2xx"}"#) >= 4.0, "{after}");
    assert!(sample(&after, "attachd_group_commit_records_count") >= 1.0);
    assert!(sample(&after, "attachd_segment_write_sync_duration_seconds_count") >= 1.0);
    for name in ["attachd_disk_free_bytes", "attachd_segments", "attachd_reservations_pending"] {
        assert!(after.contains(&format!("# HELP {name}")), "{name} missing:\n{after}");
    }
    // Label sets stay bounded: no ids in any label.
    let project = d.b("project_id");
    assert!(!after.contains(&project));
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_ready_on_both_listeners() {
    let d = Daemon::start().await;
    for base in [format!("http://{}", d.addr), format!("http://{}", d.ops_addr.clone().unwrap())] {
        assert_eq!(d.http.get(format!("{base}/health")).send().await.unwrap().status(), 200);
        assert_eq!(d.http.get(format!("{base}/ready")).send().await.unwrap().status(), 200);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(["healthcheck", "--url", &format!("http://{}", d.addr)])
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_uploads_each_either_completes_or_is_retryable() {
    let mut d = Daemon::start_with(Opts::default().set("storage", "standalone_threshold_bytes = 65536")).await;
    let d_addr = d.addr.clone();
    let key = d.client_key();
    // 16 uploads whose bodies trickle in over ~1.5 s, then SIGTERM in the middle.
    let mut tasks = Vec::new();
    for i in 0..16u64 {
        let len = if i % 2 == 0 { 20_000 } else { 200_000 };
        let bytes = data(len, i);
        let id = d.reserve(&bytes, None).await;
        let (addr, key) = (d_addr.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let chunks: Vec<Vec<u8>> = bytes.chunks(len / 10).map(<[u8]>::to_vec).collect();
            let stream = futures_util::stream::unfold(chunks.into_iter(), |mut it| async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                it.next().map(|c| (Ok::<_, std::io::Error>(c), it))
            });
            let r = reqwest::Client::new()
                .put(format!("http://{addr}/v1/ingest/attachment/{id}"))
                .bearer_auth(key)
                .header("content-type", "application/octet-stream")
                .header("content-length", len.to_string())
                .body(reqwest::Body::wrap_stream(stream))
                .send()
                .await;
            (id, bytes, r.map(|r| r.status().as_u16()).map_err(|e| e.to_string()))
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    // A request arriving after the drain started is refused with a retryable status.
    let late_url = d.url("/v1/ingest/attachment");
    let late_http = d.http.clone();
    let stop = d.stop();
    let (status, results) = {
        let late = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            late_http
                .post(&late_url)
                .bearer_auth(&key)
                .json(&reserve_body(b"late", None))
                .send()
                .await
                .map(|r| r.status().as_u16())
        };
        let (status, late_status, results) = tokio::join!(stop, late, async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        if let Ok(s) = late_status {
            // Reserves stay accepted while draining (SDKs never retry a reserve); a closed
            // listener refuses the connection instead.
            assert_eq!(s, 201, "a reserve during the drain");
        }
        (status, results)
    };
    assert!(status.success(), "exit status {status}");
    let mut completed = Vec::new();
    for (id, bytes, r) in results {
        match r {
            Ok(200) => completed.push((id, bytes)),
            Ok(503) | Err(_) => {} // refused before it started: an SDK retries
            Ok(other) => panic!("upload {id} ended with {other}, neither 200 nor retryable"),
        }
    }
    assert!(!completed.is_empty(), "uploads in flight at SIGTERM were allowed to finish");
    d.restart_after_stop().await;
    for (id, bytes) in completed {
        assert!(d.download(&id).await == bytes, "{id} acknowledged before shutdown is durable");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_answers_429_with_retry_after() {
    let d = Daemon::start_with(
        Opts::default()
            .set("rate_limit", "enabled = true")
            .set("rate_limit", "burst = 5")
            .set("rate_limit", "per_second = 1.0"),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = d.http.get(d.url("/v1/attachments")).bearer_auth(d.agent_key()).send().await.unwrap();
        statuses.push((r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string())));
    }
    assert!(statuses[..5].iter().all(|(s, _)| *s == 200), "{statuses:?}");
    assert_eq!(statuses[5], (429, Some("1".to_string())));
    // Buckets are per key: another key is unaffected; unlimited routes stay open.
    let (s, _) = d.reserve_json(&d.client_key(), reserve_body(b"x", None)).await;
    assert_eq!(s, 201);
    let r = d
        .http
        .get(d.url(&format!("/v1/projects/{}/attachment-usage", d.b("project_id"))))
        .bearer_auth(d.agent_key())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = d.http.get(d.url("/v1/attachments")).bearer_auth(d.agent_key()).send().await.unwrap();
    assert_eq!(r.status(), 200, "refilled");
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_is_told_ready_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut opts = Opts::default();
    opts.env.push(("NOTIFY_SOCKET".into(), sock_path.display().to_string()));
    let mut d = Daemon::start_with(opts).await;
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    d.stop().await;
    let n = sock.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
}
