//! POST /v1/ingest/attachment: validation order, codes, quotas, the quota race.

use serde_json::{Value, json};

use crate::harness::{Daemon, Opts, data, reserve_body};

#[tokio::test(flavor = "multi_thread")]
async fn reserve_returns_201_with_upload_url_and_expiry() {
    let d = Daemon::start().await;
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(b"hello bytes", Some("user_42"))).await;
    assert_eq!(s, 201, "{v}");
    let id = v["attachment_id"].as_str().unwrap();
    assert_eq!(v["upload_url"], json!(format!("http://{}/v1/ingest/attachment/{id}", d.addr)));
    let exp = v["expires_at"].as_str().unwrap();
    assert!(exp.ends_with('Z') && exp.len() == 24, "{exp}");
}

#[tokio::test(flavor = "multi_thread")]
async fn validation_errors_follow_the_reference_order_and_codes() {
    let d = Daemon::start().await;
    let base = reserve_body(b"x", Some("u"));
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({}), 400, "invalid_request", "client_event_id is required"),
        (with("client_event_id", json!(5)), 400, "invalid_request", "client_event_id is required"),
        (with("client_event_id", json!("not-a-uuid")), 400, "invalid_request", "client_event_id must be a UUID"),
        (with("user_id", json!("")), 400, "invalid_request", "user_id must be a non-empty string of at most 255 chars"),
        (
            with("user_id", json!("u".repeat(256))),
            400,
            "invalid_request",
            "user_id must be a non-empty string of at most 255 chars",
        ),
        (with("user_id", json!(42)), 400, "invalid_request", "user_id must be a non-empty string of at most 255 chars"),
        (
            with("original_filename", json!("a".repeat(256))),
            400,
            "invalid_request",
            "original_filename is required and must be at most 255 chars",
        ),
        (with("content_type", json!(null)), 400, "invalid_request", "content_type is required"),
        (
            with("content_type", json!("application/x-msdownload")),
            415,
            "disallowed_content_type",
            "Content-Type \"application/x-msdownload\" is not allowed for attachments",
        ),
        (
            with("content_type", json!(" TEXT/X-SHELLSCRIPT ; charset=utf-8")),
            415,
            "disallowed_content_type",
            "Content-Type \" TEXT/X-SHELLSCRIPT ; charset=utf-8\" is not allowed for attachments",
        ),
        (
            with("content_type", json!(format!("text/{}", "x".repeat(200)))),
            400,
            "invalid_request",
            "content_type must be a non-empty MIME type of at most 128 chars",
        ),
        (with("size_bytes", json!(0)), 400, "invalid_request", "size_bytes must be a positive integer"),
        (with("size_bytes", json!(-1)), 400, "invalid_request", "size_bytes must be a positive integer"),
        (with("size_bytes", json!("10")), 400, "invalid_request", "size_bytes must be a positive integer"),
        (with("size_bytes", json!(1.5)), 400, "invalid_request", "size_bytes must be a positive integer"),
        (
            with("sha256", json!("A".repeat(64))),
            400,
            "invalid_request",
            "sha256 must be a 64-char lowercase hex string",
        ),
        (
            with("sha256", json!("a".repeat(63))),
            400,
            "invalid_request",
            "sha256 must be a 64-char lowercase hex string",
        ),
    ];
    for (body, status, code, message) in cases {
        let (s, v) = d.reserve_json(&d.client_key(), body.clone()).await;
        assert_eq!(s, status, "{body} → {v}");
        assert_eq!(v["code"], json!(code), "{body} → {v}");
        assert_eq!(v["message"], json!(message), "{body} → {v}");
    }
    // JSON that is not an object has none of the fields (as the reference).
    let (s, v) = d.reserve_json(&d.client_key(), json!([1, 2])).await;
    assert_eq!((s, v["message"].as_str().unwrap()), (400, "client_event_id is required"));
    // Not JSON at all.
    let r = d
        .http
        .post(d.url("/v1/ingest/attachment"))
        .bearer_auth(d.client_key())
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "invalid_json");
    // Nothing was reserved by any of that.
    assert_eq!(d.usage(None).await["file_count"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn uppercase_client_event_ids_are_stored_lowercase() {
    let d = Daemon::start().await;
    let mut body = reserve_body(b"abc", None);
    body["client_event_id"] = json!("550E8400-E29B-41D4-A716-446655440000");
    let (s, v) = d.reserve_json(&d.client_key(), body).await;
    assert_eq!(s, 201);
    let id = v["attachment_id"].as_str().unwrap();
    let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await;
    assert_eq!(g["event_client_id"], "550e8400-e29b-41d4-a716-446655440000");
    let (_, l) = d.get(&d.agent_key(), "/v1/attachments?event_client_id=550E8400-E29B-41D4-A716-446655440000").await;
    assert_eq!(l["attachments"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn quotas_reject_with_the_reference_bodies_user_first() {
    let d =
        Daemon::start_with(Opts::default().set("quota", "project_bytes = 1000").set("quota", "user_bytes = 600")).await;
    let one = data(500, 1);
    d.reserve(&one, Some("alice")).await;
    // alice: 500 + 200 > 600 → user quota; the project would still fit.
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(&data(200, 2), Some("alice"))).await;
    assert_eq!(s, 413);
    assert_eq!(v["code"], "user_quota_exhausted");
    assert_eq!(v["message"], "User attachment quota would be exceeded (500 + 200 > 600 bytes)");
    assert_eq!(v["user_quota_bytes"], 600);
    assert_eq!(v["user_used_bytes"], 500);
    // Equality is allowed: bob takes exactly the rest of the project.
    d.reserve(&data(500, 3), Some("bob")).await;
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(&data(1, 4), None)).await;
    assert_eq!(s, 413);
    assert_eq!(v["code"], "quota_exhausted");
    assert_eq!(v["message"], "Project attachment quota would be exceeded (1000 + 1 > 1000 bytes)");
    assert_eq!(v["quota_bytes"], 1000);
    assert_eq!(v["used_bytes"], 1000);
    let u = d.usage(Some("alice")).await;
    assert_eq!(u["used_bytes"], 1000);
    assert_eq!(u["file_count"], 2);
    assert_eq!(u["user_used_bytes"], 500);
    assert_eq!(u["user_file_count"], 1);
    assert_eq!(u["quota_bytes"], 1000);
    assert_eq!(u["user_quota_bytes"], 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reserves_never_overshoot_the_quota() {
    // 200 concurrent reserves of 10 bytes against 1,005 bytes of room: exactly 100 fit.
    let d = Daemon::start_with(Opts::default().set("quota", "project_bytes = 1005")).await;
    let d = std::sync::Arc::new(d);
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let d = d.clone();
        tasks.push(tokio::spawn(
            async move { d.reserve_json(&d.client_key(), reserve_body(&data(10, i), None)).await.0 },
        ));
    }
    let mut ok = 0;
    let mut rejected = 0;
    for t in tasks {
        match t.await.unwrap() {
            201 => ok += 1,
            413 => rejected += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 100);
    assert_eq!(rejected, 100);
    assert_eq!(d.usage(None).await["used_bytes"], 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn patch_project_quota_fields_use_the_reference_range() {
    let d = Daemon::start().await;
    let p = d.b("project_id");
    let jwt = crate::auth::user_jwt(&d, "owner-1", &d.b("team_id"), "owner").await;
    let patch = |body: Value| {
        let d = &d;
        let jwt = jwt.clone();
        let p = p.clone();
        async move {
            crate::harness::json_of(
                d.http.patch(d.url(&format!("/v1/projects/{p}"))).bearer_auth(jwt).json(&body).send().await.unwrap(),
            )
            .await
        }
    };
    let (s, v) = patch(json!({"attachment_project_quota_bytes": 1024})).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "attachment_project_quota_bytes must be between 1048576 and 1099511627776");
    let (s, v) = patch(json!({"attachment_user_quota_bytes": "big"})).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "attachment_user_quota_bytes must be an integer or null");
    let (s, v) =
        patch(json!({"attachment_project_quota_bytes": 2097152, "attachment_user_quota_bytes": 1048576})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["effective_attachment_project_quota_bytes"], 2097152);
    let u = d.usage(None).await;
    assert_eq!(u["quota_bytes"], 2097152);
    assert_eq!(u["user_quota_bytes"], 1048576);
    let (s, v) = patch(json!({"attachment_project_quota_bytes": null})).await;
    assert_eq!(s, 200);
    assert_eq!(v["effective_attachment_project_quota_bytes"], 5368709120u64);
    // A member may not change quotas.
    let member = crate::auth::user_jwt(&d, "member-1", &d.b("team_id"), "member").await;
    let r =
        d.http.patch(d.url(&format!("/v1/projects/{p}"))).bearer_auth(member).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 403);
}
