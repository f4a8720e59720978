//! The bad-input table: malformed and hostile requests, each answered with the right 4xx and a
//! JSON error, never a 5xx, never a panic, and nothing stored or leaked afterwards. Plus
//! slowloris: clients that never finish their headers are timed out while others are served.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Daemon, Opts, data, reserve_body, sha_hex};

/// A raw HTTP exchange: write `req`, optionally half-close, read one response.
pub async fn raw(addr: &str, req: &[u8], half_close: bool) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(req).await;
    if half_close {
        let _ = s.shutdown().await;
    }
    let mut buf = Vec::new();
    let mut tmp = [0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let n = match tokio::time::timeout_at(deadline, s.read(&mut tmp)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|len| buf.len() >= end + 4 + len) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

pub fn req(method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("transfer-encoding"))
    {
        r.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut v = r.into_bytes();
    v.extend_from_slice(body);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_get_clear_4xx_json_errors_and_leave_nothing_behind() {
    let d = Daemon::start_with(
        Opts::default()
            .set("server", "body_idle_timeout_secs = 1")
            .set("server", "max_header_bytes = 8192")
            .set("storage", "standalone_threshold_bytes = 4096"),
    )
    .await;
    let ck = d.client_key();
    let bearer = |k: &str| ("authorization", format!("Bearer {k}"));
    let json_ct = ("content-type", "application/json".to_string());
    let octet = ("content-type", "application/octet-stream".to_string());
    let other = crate::auth::other_team(&d).await;
    // A revoked key.
    let (_, k) = d.admin(reqwest::Method::POST, "keys", Some(json!({"kind": "client", "app_id": d.b("app_id")}))).await;
    let revoked = k["secret"].as_str().unwrap().to_string();
    d.admin(reqwest::Method::DELETE, &format!("keys/{}", k["key"]["id"].as_str().unwrap()), None).await;
    // Reservations to aim at (never completed by this test, except the one for replay).
    let payload = data(1000, 1);
    let pending = d.reserve(&payload, None).await;
    let big = data(10_000, 2);
    let pending_big = d.reserve(&big, None).await;
    // Size mismatches discard their reservation (the reference's rule): one of its own.
    let pending_cl = d.reserve(&data(1000, 3), None).await;
    let replay_id = d.upload(b"replayed").await;
    let replay_url = d.download_url(&replay_id).await;
    let replay_path = replay_url.split_once(&d.addr).unwrap().1.to_string();
    d.delete(&ck, &replay_id).await;
    let good = |f: &str, v: Value| {
        let mut b = reserve_body(b"x", None);
        b[f] = v;
        serde_json::to_vec(&b).unwrap()
    };
    let reserve = "/v1/ingest/attachment";
    let put = format!("/v1/ingest/attachment/{pending}");
    let put_big = format!("/v1/ingest/attachment/{pending_big}");
    let put_cl = format!("/v1/ingest/attachment/{pending_cl}");
    let mut deep = vec![b'['; 5000];
    deep.extend(vec![b']'; 5000]);
    let alg_none = format!("{}.{}.", b64(r#"{"alg":"none"}"#), b64(r#"{"sub":"u"}"#));
    let forged = format!("{}.{}.{}", b64(r#"{"alg":"HS256"}"#), b64(r#"{"sub":"u"}"#), b64("not a signature"));
    let hex_token = |id: &str| format!("{id}.9999999999.{}", "ab".repeat(32));
    let cases: Vec<(&str, Vec<u8>, bool, u16)> = vec![
        // Reserve bodies.
        ("invalid JSON", req("POST", reserve, &[bearer(&ck), json_ct.clone()], b"{nope"), false, 400),
        (
            "truncated JSON",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], br#"{"client_event_id":"#),
            false,
            400,
        ),
        ("JSON string body", req("POST", reserve, &[bearer(&ck), json_ct.clone()], br#""hello""#), false, 400),
        ("empty body", req("POST", reserve, &[bearer(&ck), json_ct.clone()], b""), false, 400),
        ("nesting bomb", req("POST", reserve, &[bearer(&ck), json_ct.clone()], &deep), false, 400),
        (
            "oversized JSON body",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &vec![b' '; 1_100_000]),
            false,
            413,
        ),
        (
            "non-UTF-8 JSON",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], b"{\"original_filename\":\"\xff\xfe\"}"),
            false,
            400,
        ),
        (
            "form body",
            req(
                "POST",
                reserve,
                &[bearer(&ck), ("content-type", "application/x-www-form-urlencoded".into())],
                b"a=b&c=d",
            ),
            false,
            415,
        ),
        (
            "JSON sent as text/plain (a cross-site simple request)",
            req(
                "POST",
                reserve,
                &[bearer(&ck), ("content-type", "text/plain".into())],
                &good("original_filename", json!("a.txt")),
            ),
            false,
            415,
        ),
        (
            "256-char filename",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("original_filename", json!("f".repeat(256)))),
            false,
            400,
        ),
        (
            "256-char user_id",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("user_id", json!("u".repeat(256)))),
            false,
            400,
        ),
        (
            "CRLF in content_type",
            req(
                "POST",
                reserve,
                &[bearer(&ck), json_ct.clone()],
                &good("content_type", json!("text/plain\r\nX-Evil: 1")),
            ),
            false,
            400,
        ),
        (
            "denylisted content_type",
            req(
                "POST",
                reserve,
                &[bearer(&ck), json_ct.clone()],
                &good("content_type", json!("application/x-dosexec")),
            ),
            false,
            415,
        ),
        (
            "over-long content_type",
            req(
                "POST",
                reserve,
                &[bearer(&ck), json_ct.clone()],
                &good("content_type", json!(format!("a/{}", "b".repeat(300)))),
            ),
            false,
            400,
        ),
        (
            "negative size",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("size_bytes", json!(-5))),
            false,
            400,
        ),
        (
            "absurd size",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("size_bytes", json!(1u64 << 60))),
            false,
            413,
        ),
        (
            "size past u64",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("size_bytes", json!(1e30))),
            false,
            413,
        ),
        (
            "size as string",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("size_bytes", json!("10"))),
            false,
            400,
        ),
        (
            "uppercase sha256",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("sha256", json!("A".repeat(64)))),
            false,
            400,
        ),
        (
            "path traversal as event id",
            req("POST", reserve, &[bearer(&ck), json_ct.clone()], &good("client_event_id", json!("../../etc/passwd"))),
            false,
            400,
        ),
        // Uploads.
        (
            "encoded traversal as id",
            req("PUT", "/v1/ingest/attachment/..%2F..%2Fetc%2Fpasswd", &[bearer(&ck), octet.clone()], b"x"),
            false,
            400,
        ),
        (
            "literal traversal path",
            req("PUT", "/v1/ingest/attachment/../../etc/passwd", &[bearer(&ck), octet.clone()], b"x"),
            false,
            404,
        ),
        (
            "Content-Length above declared",
            req("PUT", &put_cl, &[bearer(&ck), octet.clone(), ("content-length", "5000".into())], &[0u8; 5000]),
            false,
            413,
        ),
        (
            "chunked body past declared size",
            {
                let mut r =
                    req("PUT", &put_big, &[bearer(&ck), octet.clone(), ("transfer-encoding", "chunked".into())], b"");
                for _ in 0..3 {
                    r.extend_from_slice(format!("{:x}\r\n", 4000).as_bytes());
                    r.extend_from_slice(&[7u8; 4000]);
                    r.extend_from_slice(b"\r\n");
                }
                r.extend_from_slice(b"0\r\n\r\n");
                r
            },
            false,
            413,
        ),
        (
            "wrong upload content type",
            req("PUT", &put, &[bearer(&ck), ("content-type", "image/png".into())], &payload),
            false,
            415,
        ),
        ("no upload content type", req("PUT", &put, &[bearer(&ck)], &payload), false, 415),
        (
            "lying Content-Length, stalled",
            req("PUT", &put, &[bearer(&ck), octet.clone(), ("content-length", "1000".into())], &payload[..400]),
            false,
            408,
        ),
        (
            "truncated body, then EOF",
            req("PUT", &put, &[bearer(&ck), octet.clone(), ("content-length", "1000".into())], &payload[..400]),
            true,
            400,
        ),
        ("another team's key", req("PUT", &put, &[bearer(&other.client_key), octet.clone()], &payload), false, 404),
        ("revoked key", req("PUT", &put, &[bearer(&revoked), octet.clone()], &payload), false, 401),
        ("agent key uploading", req("PUT", &put, &[bearer(&d.agent_key()), octet.clone()], &payload), false, 403),
        // Credentials.
        (
            "Basic auth",
            req("GET", "/v1/attachments", &[("authorization", "Basic dXNlcjpwYXNz".into())], b""),
            false,
            401,
        ),
        ("empty bearer", req("GET", "/v1/attachments", &[("authorization", "Bearer ".into())], b""), false, 401),
        ("JWT alg none", req("GET", "/v1/attachments", &[bearer(&alg_none)], b""), false, 401),
        ("forged JWT", req("GET", "/v1/attachments", &[bearer(&forged)], b""), false, 401),
        (
            "another team reading",
            req("GET", &format!("/v1/attachments/{pending}"), &[bearer(&other.agent_key)], b""),
            false,
            404,
        ),
        (
            "another team's usage",
            req(
                "GET",
                &format!("/v1/projects/{}/attachment-usage", d.b("project_id")),
                &[bearer(&other.agent_key)],
                b"",
            ),
            false,
            404,
        ),
        ("admin API on the public port", req("GET", "/admin/v1/teams", &[bearer(&ck)], b""), false, 404),
        // Downloads.
        ("download without token", req("GET", "/v1/attachments/download", &[], b""), false, 401),
        (
            "tampered token",
            req("GET", &format!("/v1/attachments/download?t={}", hex_token(&pending)), &[], b""),
            false,
            401,
        ),
        ("token of garbage", req("GET", "/v1/attachments/download?t=%00%ff..", &[], b""), false, 401),
        ("token replayed after delete", req("GET", &replay_path, &[], b""), false, 404),
        // Protocol edges.
        (
            "huge header",
            req("GET", "/v1/attachments", &[bearer(&ck), ("x-filler", "a".repeat(12_000))], b""),
            false,
            431,
        ),
        ("bad UUID in path", req("GET", "/v1/attachments/not-a-uuid", &[bearer(&d.agent_key())], b""), false, 400),
        (
            "bad UUID in query",
            req("GET", "/v1/attachments?project_id=1%27%20OR%201=1", &[bearer(&d.agent_key())], b""),
            false,
            400,
        ),
        ("bad cursor", req("GET", "/v1/attachments?cursor=%FF%FE", &[bearer(&d.agent_key())], b""), false, 400),
        ("wrong method", req("PATCH", &format!("/v1/attachments/{pending}"), &[bearer(&ck)], b"{}"), false, 405),
        ("unknown route", req("GET", "/v1/secret", &[], b""), false, 404),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut tried = 0;
    for (name, bytes, half_close, want) in &cases {
        let (status, body) = raw(&d.addr, bytes, *half_close).await;
        if *half_close && status == 0 {
            // The client shut its side: a response may not arrive; the daemon must not care.
        } else {
            assert_eq!(status, *want, "{name}: {body}");
            let msg = body.get("error").or_else(|| body.get("message")).and_then(Value::as_str);
            assert!(msg.is_some_and(|m| !m.is_empty()), "{name}: no JSON error body: {body}");
        }
        tried += 1;
    }
    eprintln!("hostile table: {tried} requests, every one refused with its 4xx and a JSON error");
    // The daemon is alive and nothing was stored or leaked.
    assert_eq!(d.http.get(d.url("/health")).send().await.unwrap().status(), 200);
    let u = d.usage(None).await;
    assert_eq!(u["file_count"], 1, "only the reservation no hostile request could complete or discard: {u}");
    let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{pending}")).await;
    assert_eq!(g["uploaded_at"], Value::Null);
    assert_eq!(std::fs::read_dir(d.data.join("blobs/.tmp")).unwrap().count(), 0);
    let (_, f) = d.admin(reqwest::Method::POST, "fsck", None).await;
    assert_eq!(f["ok"], true, "{f}");
    // And the reservation that every hostile PUT aimed at can still be completed.
    assert_eq!(d.put(&ck, &pending, payload.clone()).await.0, 200);
    assert_eq!(sha_hex(&d.download(&pending).await), sha_hex(&payload));
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_clients_are_timed_out_and_others_are_served() {
    let d = Daemon::start_with(Opts::default().set("server", "header_timeout_secs = 1")).await;
    // 50 connections that send half a request head and then nothing.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(&d.addr).await.unwrap();
        s.write_all(b"GET /v1/attachments HTTP/1.1\r\nhost: x\r\nx-slow: ").await.unwrap();
        idle.push(s);
    }
    // Others are served meanwhile.
    for _ in 0..5 {
        assert_eq!(d.get(&d.agent_key(), "/v1/attachments").await.0, 200);
    }
    // The slow ones are cut off by the header timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut closed = 0;
    for mut s in idle {
        let mut b = [0u8; 1024];
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, 50, "every stalled connection was closed");
    assert_eq!(d.get(&d.agent_key(), "/v1/attachments").await.0, 200);
}
