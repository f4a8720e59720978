//! Seed 002 (session-point slots) against the real binary: raw and multipart PUTs report
//! `{length, md5}`, each PUT replaces the point's file atomically (concurrent PUTs leave
//! exactly one live file, usage counts it alone, cleanup reclaims the rest), GET and DELETE
//! are 404 on an empty point, every malformed request is a 4xx, and files survive kill -9.

use md5::Digest as _;
use reqwest::Method;
use serde_json::Value;

use crate::harness::{Opts, data, json_of};
use crate::people::{Form, World};

const POINT: &str = "/api/v1/project/42/sessions/0b6c5c1e-3f3d-4a52-9d6c-6f1d2a7c9e10/attachments/photo";

fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

async fn put_raw(w: &World, path: &str, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = w.d.http.put(w.d.url(path)).bearer_auth(token).header("content-type", "application/octet-stream");
    json_of(r.body(body).send().await.unwrap()).await
}

async fn get(w: &World, path: &str, token: &str) -> (u16, Vec<u8>, Option<String>) {
    let r = w.d.http.get(w.d.url(path)).bearer_auth(token).send().await.unwrap();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec(), ct)
}

async fn delete(w: &World, path: &str, token: &str) -> (u16, Value) {
    json_of(w.d.http.request(Method::DELETE, w.d.url(path)).bearer_auth(token).send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_point_holds_one_file_replaced_by_each_put() {
    let w = World::new().await;
    let (s, _, _) = get(&w, POINT, &w.ann).await;
    assert_eq!(s, 404, "an empty point");
    let first = data(10_000, 1);
    let (s, v) = put_raw(&w, &format!("{POINT}?filename=front.jpg"), &w.ann, first.clone()).await;
    assert_eq!((s, &v), (200, &serde_json::json!({"result": {"length": 10_000, "md5": md5_hex(&first)}})));
    let (s, got, ct) = get(&w, POINT, &w.bob).await;
    assert_eq!((s, ct.as_deref()), (200, Some("application/octet-stream")));
    assert!(got == first);
    // A form upload in the `attachment` field replaces it (a large file this time).
    let second = data(3_000_000, 2);
    let form = Form::default().file("attachment", "back.jpg", "image/jpeg", &second).end();
    let r = w.d.http.put(w.d.url(POINT)).bearer_auth(&w.ann).header("content-type", Form::content_type()).body(form);
    let (s, v) = json_of(r.send().await.unwrap()).await;
    assert_eq!((s, v["result"]["md5"].as_str()), (200, Some(md5_hex(&second).as_str())), "{v}");
    let (_, got, _) = get(&w, POINT, &w.ann).await;
    assert!(got == second, "the new file replaced the old one");
    let r = w.d.http.get(w.d.url(POINT)).bearer_auth(&w.ann).header("range", "bytes=5-9").send().await.unwrap();
    assert_eq!(r.status(), 206);
    assert!(r.bytes().await.unwrap() == second[5..10]);
    assert_eq!(w.d.usage(None).await["used_bytes"], 3_000_000, "only the live file counts");
    // Another point of the same session is another slot.
    let other = POINT.replace("/photo", "/signature");
    assert_eq!(put_raw(&w, &other, &w.ann, data(10, 3)).await.0, 200);
    let (s, v) = delete(&w, POINT, &w.ann).await;
    assert_eq!((s, v), (200, serde_json::json!({"result": true})));
    assert_eq!(get(&w, POINT, &w.ann).await.0, 404);
    assert_eq!(delete(&w, POINT, &w.ann).await.0, 404, "already empty");
    assert_eq!(get(&w, &other, &w.ann).await.1, data(10, 3));
    assert_eq!(w.d.usage(None).await["used_bytes"], 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_are_4xx_and_keep_nothing() {
    let w = World::with(Opts::default().set("apis.sessions", "max_upload_bytes = 100000")).await;
    let put = |path: String, ct: &'static str, body: Vec<u8>| {
        let r = w.d.http.put(w.d.url(&path)).bearer_auth(&w.ann).header("content-type", ct).body(body);
        async move { json_of(r.send().await.unwrap()).await }
    };
    let cases: Vec<(String, &str, Vec<u8>, u16, &str)> = vec![
        (POINT.replace("/42/", "/abc/"), "application/octet-stream", vec![1], 400, "project_id must be an integer"),
        (POINT.replace("/42/", "/99/"), "application/octet-stream", vec![1], 404, "Project not found"),
        (POINT.replace("/42/", "/43/"), "application/octet-stream", vec![1], 404, "Project not found"),
        (POINT.into(), "text/plain", vec![1], 400, "application/octet-stream or multipart/form-data"),
        (POINT.into(), "multipart/form-data", vec![1], 400, "boundary"),
        (POINT.into(), "application/octet-stream", data(100_001, 1), 413, "File too large"),
        (format!("{POINT}?filename=a%0Ab"), "application/octet-stream", vec![1], 400, "control characters"),
    ];
    for (path, ct, body, status, want) in cases {
        let (s, v) = put(path.clone(), ct, body).await;
        assert_eq!(s, status, "{path} {ct}: {v}");
        assert!(v["error"].as_str().unwrap().contains(want), "{want}: {v}");
    }
    let form = |f: Form| f.end();
    for (body, want) in [
        (form(Form::default().file("file", "a.jpg", "image/jpeg", b"x")), "unknown form field \"file\""),
        (form(Form::default()), "no attachment field"),
        (form(Form::default().file("attachment", "a", "image/jpeg", &data(100_001, 2))), "File too large"),
        (form(Form::default().file("attachment", "a", "image/jpeg", &data(250_000, 2))), "File too large"),
    ] {
        let ct = "multipart/form-data; boundary=----attachd-test-boundary-7MA4YWxkTrZu0gW";
        let (s, v) = put(POINT.into(), ct, body).await;
        assert_eq!(s, if want == "File too large" { 413 } else { 400 }, "{want}: {v}");
        assert!(v["error"].as_str().unwrap().contains(want), "{want}: {v}");
    }
    let (s, _) = json_of(w.d.http.put(w.d.url(POINT)).body(vec![1]).send().await.unwrap()).await;
    assert_eq!(s, 401, "no credentials");
    assert_eq!(get(&w, POINT, &w.eve).await.0, 404, "a person out of reach");
    assert_eq!(get(&w, POINT, &w.ann).await.0, 404, "nothing was stored");
    assert_eq!(crate::people::staged_files(&w.d), 0);
    assert_eq!(w.d.usage(None).await["used_bytes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_puts_leave_exactly_one_live_file() {
    let opts = Opts::default().set("cleanup", "soft_delete_grace_secs = 0");
    let mut w = World::with(opts).await;
    let bodies: Vec<Vec<u8>> =
        (0..16).map(|i| data(if i % 4 == 0 { 1_500_000 } else { 1_000 + i * 37 }, i as u64)).collect();
    let puts = bodies.iter().map(|b| put_raw(&w, POINT, &w.ann, b.clone()));
    let replies = futures_util::future::join_all(puts).await;
    for (s, v) in &replies {
        assert_eq!(*s, 200, "{v}");
    }
    let winner = check(&w, &bodies).await;
    w.d.kill_and_restart().await;
    assert_eq!(check(&w, &bodies).await, winner, "the same file after kill -9");
    let before = w.d.store_disk_bytes();
    let report = w.d.cleanup().await;
    assert!(w.d.store_disk_bytes() < before, "cleanup reclaims the replaced files: {report}");
    assert_eq!(check(&w, &bodies).await, winner);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replacement_is_quota_checked_by_the_difference() {
    let w = World::new().await;
    let (s, _) =
        w.d.admin(
            Method::PUT,
            &format!("projects/{}/quota", w.project),
            Some(serde_json::json!({"project_bytes": 100_000})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(put_raw(&w, POINT, &w.ann, data(90_000, 1)).await.0, 200);
    let (s, v) = put_raw(&w, POINT, &w.ann, data(95_000, 2)).await;
    assert_eq!(s, 200, "replacing 90,000 bytes by 95,000 fits a 100,000-byte quota: {v}");
    let other = POINT.replace("/photo", "/other");
    let (s, v) = put_raw(&w, &other, &w.ann, data(10_000, 3)).await;
    assert_eq!((s, v["code"].as_str()), (413, Some("quota_exhausted")), "{v}");
    let (s, _, _) = get(&w, POINT, &w.ann).await;
    assert_eq!(s, 200);
    assert_eq!(w.d.usage(None).await["used_bytes"], 95_000);
}

/// The point holds exactly one of `bodies`, whole, and usage counts it alone; returns which.
async fn check(w: &World, bodies: &[Vec<u8>]) -> usize {
    let (s, got, _) = get(w, POINT, &w.ann).await;
    assert_eq!(s, 200);
    let winner = bodies.iter().position(|b| *b == got).expect("the point holds one of the uploaded files, whole");
    let usage = w.d.usage(None).await;
    assert_eq!(usage["used_bytes"], bodies[winner].len() as u64, "usage counts the live file alone: {usage}");
    assert_eq!(usage["file_count"], 1, "exactly one live file");
    winner
}
