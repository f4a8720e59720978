//! Seed 004, signed-URL files, on the real binary: the upload URL reply exactly as the seed
//! shows, the PUT without the key (ETag, size limit while streaming, type by extension and
//! content, a second PUT), the status and download by the owner, the seed's error bodies, the
//! upload tokens (expired, tampered, replayed for another file, crossed with download tokens),
//! ephemeral files removed under a shortened clock, and a daemon with no scanner configured.
//! The scanning itself, with a real clamd, is in `scanning.rs`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Daemon, Opts, json_of};

/// `GET /v1/files/signed-url` as `user`; the status, the JSON and the raw body.
pub async fn signed_url(d: &Daemon, user: &str, query: &str) -> (u16, Value, String) {
    let r = d
        .http
        .get(d.url(&format!("/v1/files/signed-url?{query}")))
        .header("api-key", d.client_key())
        .header("user-id", user)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

/// Asks for a URL for `name` as `user`; panics unless 200. Returns (file id, upload URL).
pub async fn new_file(d: &Daemon, user: &str, name: &str) -> (String, String) {
    let (s, v, text) = signed_url(d, user, &format!("filename={name}")).await;
    assert_eq!(s, 200, "{text}");
    (v["file_id"].as_str().unwrap().to_string(), v["file_url"].as_str().unwrap().to_string())
}

/// PUTs `body` to an upload URL; the status, the ETag and the body text.
pub async fn put_to(d: &Daemon, url: &str, body: Vec<u8>) -> (u16, Option<String>, String) {
    let r = d.http.put(url).body(body).send().await.unwrap();
    let etag = r.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), etag, r.text().await.unwrap())
}

/// `GET path` with the seed's headers as `user`.
pub async fn get_as(d: &Daemon, user: &str, path: &str) -> reqwest::Response {
    d.http.get(d.url(path)).header("api-key", d.client_key()).header("user-id", user).send().await.unwrap()
}

/// The file's status as `user`.
pub async fn status_of(d: &Daemon, user: &str, id: &str) -> (u16, Value) {
    json_of(get_as(d, user, &format!("/v1/files/{id}/status")).await).await
}

/// Polls the status until it is not `from`; returns the last status body.
pub async fn wait_status(d: &Daemon, user: &str, id: &str, from: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (s, v) = status_of(d, user, id).await;
        assert_eq!(s, 200, "{v}");
        if v["status"] != from || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A daemon whose seed-004 files are not scanned.
async fn unscanned(opts: Opts) -> Daemon {
    Daemon::start_with(opts.set("apis.files", "scan = false")).await
}

fn csv(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        v.extend_from_slice(b"a,b,c\n1,2,3\n");
    }
    v.truncate(n);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn the_signed_url_flow_answers_as_the_seed_shows() {
    let d = unscanned(Opts::default()).await;
    let (s, v, text) = signed_url(&d, "u1", "filename=report.csv").await;
    assert_eq!(s, 200, "{text}");
    // The seed's fields, in the seed's order.
    let order: Vec<usize> = ["\"expires_in\"", "\"file_id\"", "\"file_limits\"", "\"file_url\""]
        .iter()
        .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} missing: {text}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(v.as_object().unwrap().len(), 4, "{text}");
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v["file_limits"]["max_size"], 10485760);
    let types: Vec<&str> =
        v["file_limits"]["allowed_types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(types[..3], ["text/csv", "text/plain", "application/pdf"]);
    assert_eq!(types.len(), 5);
    let id = v["file_id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok_and(|u| u.get_version_num() == 4), "{id}");
    let url = v["file_url"].as_str().unwrap();
    assert!(url.starts_with(&d.url("/v1/files/upload/")), "{url}");

    let (st, body) = status_of(&d, "u1", id).await;
    assert_eq!((st, body["status"].as_str()), (200, Some("pending")), "{body}");
    assert_eq!(body["size"], Value::Null);
    assert_eq!(body["filename"], "report.csv");
    assert_eq!(body["content_type"], "text/csv");
    assert_eq!(body["persist"], true);
    let fields: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(fields.len(), 7, "{body}");

    let payload = csv(100_000);
    let (s, etag, text) = put_to(&d, url, payload.clone()).await;
    assert_eq!(s, 200, "{text}");
    let md5 = {
        use md5::Digest as _;
        hex::encode(md5::Md5::digest(&payload))
    };
    assert_eq!(etag, Some(format!("\"{md5}\"")));
    let (_, body) = status_of(&d, "u1", id).await;
    assert_eq!((body["status"].as_str(), body["size"].as_u64()), (Some("processed"), Some(100_000)), "{body}");
    assert_eq!(body["expires_at"], Value::Null, "a kept file has no deadline");
    let r = get_as(&d, "u1", &format!("/v1/files/{id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &payload[..]);
    // The prose's path answers too.
    let (st, _) = json_of(get_as(&d, "u1", &format!("/files/{id}/status")).await).await;
    assert_eq!(st, 200);
    // Usage counts what was uploaded, not the limit the URL reserved.
    assert_eq!(d.usage(Some("u1")).await["user_used_bytes"], 100_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_use_the_seed_codes_and_lose_nothing() {
    let d = unscanned(Opts::default()).await;
    // No key, a bad key: 401.
    let r = d.http.get(d.url("/v1/files/signed-url?filename=a.csv")).header("user-id", "u1").send().await.unwrap();
    let (s, v) = json_of(r).await;
    assert_eq!(
        (s, &v),
        (401, &serde_json::json!({"error_code": "unauthorized", "detail": "Missing or invalid API key"}))
    );
    let r = d
        .http
        .get(d.url("/v1/files/signed-url?filename=a.csv"))
        .header("api-key", "ok_not_a_key")
        .header("user-id", "u1")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await.1["error_code"], "unauthorized");
    // Missing user-id or filename; a type the allowlist refuses, by extension.
    let r = d
        .http
        .get(d.url("/v1/files/signed-url?filename=a.csv"))
        .header("api-key", d.client_key())
        .send()
        .await
        .unwrap();
    let (s, v) = json_of(r).await;
    assert!(s == 422 && v["detail"].as_str().unwrap().contains("user-id"), "{s} {v}");
    let (s, v, _) = signed_url(&d, "u1", "persist=true").await;
    assert!(s == 422 && v["detail"].as_str().unwrap().contains("filename"), "{s} {v}");
    let (s, v, _) = signed_url(&d, "u1", "filename=run.exe").await;
    assert_eq!((s, v["error_code"].as_str()), (415, Some("disallowed_content_type")), "{v}");
    let (s, _, _) = signed_url(&d, "u1", "filename=photo.png").await;
    assert_eq!(s, 415, "PNG is not in seed 004's default allowlist");
    let (s, v, _) = signed_url(&d, "u1", "filename=a.csv&persist=maybe").await;
    assert_eq!((s, v["error_code"].as_str()), (400, Some("bad_parameter")), "{v}");

    // Another user's file under the same key: 403; no such file: 404; a malformed id: 400.
    let (id, url) = new_file(&d, "u1", "notes.txt").await;
    let (s, v) = status_of(&d, "u2", &id).await;
    assert_eq!((s, v["error_code"].as_str()), (403, Some("attachment_access_forbidden")), "{v}");
    assert_eq!(v["detail"], "You do not have permission to access this attachment.");
    let (s, v) = status_of(&d, "u1", &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!((s, v["error_code"].as_str()), (404, Some("attachment_document_does_not_exist")), "{v}");
    let (s, _) = status_of(&d, "u1", "not-a-uuid").await;
    assert_eq!(s, 400);
    // Another API's file (a seed-000 attachment of the same app and user) does not exist here.
    let other = d.reserve(b"event bytes", Some("u1")).await;
    d.put(&d.client_key(), &other, b"event bytes".to_vec()).await;
    let (s, v) = status_of(&d, "u1", &other).await;
    assert_eq!((s, v["error_code"].as_str()), (404, Some("attachment_document_does_not_exist")), "{v}");
    assert_eq!(json_of(get_as(&d, "u1", &format!("/v1/files/{other}")).await).await.0, 404);
    // Not uploaded yet: using it is the seed's 409.
    let (s, v) = json_of(get_as(&d, "u1", &format!("/v1/files/{id}")).await).await;
    assert_eq!((s, v["error_code"].as_str()), (409, Some("conflict")), "{v}");

    // Content that does not match the extension: 400, nothing kept, the URL still usable.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    let (s, _, text) = put_to(&d, &url, png).await;
    assert_eq!(s, 400, "{text}");
    assert_eq!(status_of(&d, "u1", &id).await.1["status"], "pending");
    // Past max_size while streaming (no Content-Length): 413, nothing kept.
    let over = futures_util::stream::iter((0..11).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(csv(1 << 20)))));
    let r = d.http.put(&url).body(reqwest::Body::wrap_stream(over)).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(status_of(&d, "u1", &id).await.1["status"], "pending");
    // Then a good body; a second PUT is 409.
    let (s, _, text) = put_to(&d, &url, b"hello, plain text\n".to_vec()).await;
    assert_eq!(s, 200, "{text}");
    let (s, _, text) = put_to(&d, &url, b"again\n".to_vec()).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((s, v["error_code"].as_str()), (409, Some("conflict")), "{text}");
    let r = get_as(&d, "u1", &format!("/v1/files/{id}")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"hello, plain text\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_tokens_grant_one_file_one_purpose_until_they_expire() {
    let d = unscanned(Opts::default().set("apis.files", "upload_url_ttl_secs = 2")).await;
    let (a, url_a) = new_file(&d, "u1", "a.csv").await;
    let (_, url_b) = new_file(&d, "u1", "b.csv").await;
    let token_b = url_b.rsplit('/').next().unwrap().to_string();
    // Tampered: one hex digit of the MAC changed.
    let mut tampered = url_a.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    let (s, _, text) = put_to(&d, &tampered, csv(10)).await;
    assert_eq!(s, 403, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["error_code"], "attachment_access_forbidden");
    // Replayed for another file: b's token with a's id.
    let b_id = token_b.split('.').nth(1).unwrap().to_string();
    assert_ne!(b_id, a);
    let replay = token_b.replacen(&b_id, &a, 1);
    assert!(replay.contains(&a));
    let (s, _, _) = put_to(&d, &d.url(&format!("/v1/files/upload/{replay}")), csv(10)).await;
    assert_eq!(s, 403);
    // A seed-000 download token is no upload token, nor the reverse.
    let event_file = d.upload(b"event bytes").await;
    let dl = d.download_url(&event_file).await;
    let dl_token = dl.rsplit('=').next().unwrap().to_string();
    assert!(dl_token.contains('.'), "{dl}");
    let (s, _, _) = put_to(&d, &d.url(&format!("/v1/files/upload/{dl_token}")), csv(10)).await;
    assert_eq!(s, 403, "a download token used as an upload URL");
    let r = d.http.get(dl.replace(&dl_token, &token_b)).send().await.unwrap();
    assert_eq!(r.status(), 401, "an upload token used as a download URL");
    // Expired: past its second, 403, and the file reads as expired.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (s, _, _) = put_to(&d, &url_a, csv(10)).await;
    assert_eq!(s, 403, "an expired upload URL");
    // Expired until the sweeper drops it (then gone: 404).
    let (s, v) = status_of(&d, "u1", &a).await;
    assert!(s == 404 || (s, v["status"].as_str()) == (200, Some("expired")), "{s} {v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ephemeral_files_and_unused_urls_are_removed_with_their_quota() {
    let opts = Opts::default()
        .set("apis.files", "ephemeral_ttl_secs = 3")
        .set("apis.files", "upload_url_ttl_secs = 2")
        .set("uploads", "reservation_sweep_interval_secs = 1")
        .set("cleanup", "soft_delete_grace_secs = 0")
        .set("quota", "user_bytes = 25000000");
    let d = unscanned(opts).await;
    // An unused URL holds max_size of the user's quota: two fit in 25 MB, a third does not.
    let (unused, _) = new_file(&d, "u1", "never.csv").await;
    let (kept, kept_url) = new_file(&d, "u1", "kept.csv").await;
    let (s, v, _) = signed_url(&d, "u1", "filename=third.csv").await;
    assert_eq!(s, 413, "the user's quota holds two outstanding URLs: {v}");
    // Uploading settles the reservation at the file's size, releasing the rest.
    assert_eq!(put_to(&d, &kept_url, csv(1000)).await.0, 200);
    let (s, v, _) = signed_url(&d, "u1", "filename=eph.csv&persist=false").await;
    assert_eq!(s, 200, "{v}");
    let eph = v["file_id"].as_str().unwrap().to_string();
    assert_eq!(put_to(&d, v["file_url"].as_str().unwrap(), csv(2000)).await.0, 200);
    let (_, st) = status_of(&d, "u1", &eph).await;
    assert_eq!((st["persist"].as_bool(), st["status"].as_str()), (Some(false), Some("processed")), "{st}");
    assert!(st["expires_at"].is_string(), "{st}");
    // Past the URL's lifetime the unused one is expired, then swept (404); past the ephemeral
    // lifetime the persist=false file is expired, then reclaimed; the kept file stays.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (a, _) = status_of(&d, "u1", &unused).await;
        let (b, vb) = status_of(&d, "u1", &eph).await;
        let used = d.usage(Some("u1")).await["user_used_bytes"].as_u64();
        // Expired at its deadline; removed (its quota released) by the next sweep.
        if a == 404 && vb["status"] == "expired" && used == Some(1000) {
            break;
        }
        assert!(Instant::now() < deadline, "unused {a}, ephemeral {b} {vb}, used {used:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, v) = json_of(get_as(&d, "u1", &format!("/v1/files/{eph}")).await).await;
    assert_eq!(s, 404, "an expired file is not served: {v}");
    d.cleanup().await;
    assert_eq!(status_of(&d, "u1", &eph).await.0, 404, "reclaimed after the grace");
    assert_eq!(status_of(&d, "u1", &kept).await.1["status"], "processed");
    assert_eq!(d.usage(Some("u1")).await["user_used_bytes"], 1000, "only the kept file counts now");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_scanner_files_stay_processing_and_say_so() {
    let d = Daemon::start().await;
    let (id, url) = new_file(&d, "u1", "a.csv").await;
    assert_eq!(put_to(&d, &url, csv(100)).await.0, 200);
    let (_, v) = status_of(&d, "u1", &id).await;
    assert_eq!(v["status"], "processing", "never silently processed: {v}");
    let (s, v) = json_of(get_as(&d, "u1", &format!("/v1/files/{id}")).await).await;
    assert_eq!((s, v["error_code"].as_str()), (409, Some("conflict")), "{v}");
    let (s, v) = d.admin(reqwest::Method::GET, "scanner", None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, serde_json::json!({"configured": false, "reachable": false, "queue_depth": 1}));
    assert!(d.log().contains("no content scanner configured"), "attachd says so at start");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_policy_overrides_the_defaults_and_the_rate_limit_answers_as_the_seed() {
    let opts = Opts::default()
        .set("rate_limit", "enabled = true")
        .set("rate_limit", "burst = 6")
        .set("rate_limit", "per_second = 0.01");
    let d = unscanned(opts).await;
    let path = format!("projects/{}/upload-policy", d.b("project_id"));
    let policy = serde_json::json!({"max_bytes": 1000, "allowed_types": ["image/png"], "upload_url_ttl_secs": 30});
    let (s, v) = d.admin(reqwest::Method::PUT, &path, Some(policy)).await;
    assert_eq!(s, 200, "{v}");
    let (s, v, text) = signed_url(&d, "u1", "filename=dot.png").await;
    assert_eq!(s, 200, "{text}");
    assert_eq!((v["expires_in"].as_u64(), v["file_limits"]["max_size"].as_u64()), (Some(30), Some(1000)), "{v}");
    assert_eq!(v["file_limits"]["allowed_types"], serde_json::json!(["image/png"]));
    let (s, _, _) = signed_url(&d, "u1", "filename=a.csv").await;
    assert_eq!(s, 415, "the project's allowlist, not the default one");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    png.resize(2000, 0);
    let (s, _, text) = put_to(&d, v["file_url"].as_str().unwrap(), png.clone()).await;
    assert_eq!(s, 413, "past the project's max_size: {text}");
    png.truncate(1000);
    assert_eq!(put_to(&d, v["file_url"].as_str().unwrap(), png).await.0, 200);
    let (s, v) = d.admin(reqwest::Method::DELETE, &path, None).await;
    assert_eq!((s, &v["policy"]), (200, &serde_json::json!({})), "{v}");
    let (s, v, _) = signed_url(&d, "u1", "filename=a.csv").await;
    assert_eq!((s, v["expires_in"].as_u64()), (200, Some(600)), "back to the defaults");
    // The per-key rate limit: the seed's 429 body, with Retry-After.
    let mut limited = None;
    for _ in 0..10 {
        let r = d
            .http
            .get(d.url("/v1/files/signed-url?filename=a.csv"))
            .header("api-key", d.client_key())
            .header("user-id", "u1")
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some((r.headers().get("retry-after").is_some(), r.json::<Value>().await.unwrap()));
            break;
        }
    }
    let (retry_after, body) = limited.expect("the rate limit answers 429");
    assert!(retry_after);
    assert_eq!(body, serde_json::json!({"message": "Rate limit exceeded!"}));
}
