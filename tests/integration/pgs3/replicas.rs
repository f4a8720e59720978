//! Replicas of the real binary on one PostgreSQL database and one bucket: what one replica
//! does, every other sees; quotas hold across replicas; PostgreSQL or the S3 gateway going
//! away fails requests cleanly, and service comes back without restarting attachd.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Place, Postgres, Weed};
use crate::harness::{Daemon, Opts, data, reserve_body};

fn opts(place: &Place) -> Opts {
    let mut o = Opts::default();
    o.settings.extend(place.settings());
    o
}

/// Replica A (it bootstraps the database) and replica B (it finds it bootstrapped and is given
/// A's keys).
async fn pair(place: &Place) -> (Daemon, Daemon) {
    let a = Daemon::start_with(opts(place)).await;
    let mut b = Daemon::start_with(opts(place)).await;
    b.boot = a.boot.clone();
    (a, b)
}

async fn list(d: &Daemon) -> Vec<String> {
    let (s, v) = d.get(&d.agent_key(), "/v1/attachments").await;
    assert_eq!(s, 200, "{v}");
    v["attachments"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn what_one_replica_uploads_another_lists_serves_and_deletes() {
    let place = Place::fresh();
    let (a, b) = pair(&place).await;
    for (i, size) in [1_000usize, 9 << 20].into_iter().enumerate() {
        let body = data(size, i as u64);
        let id = a.upload(&body).await;
        assert!(list(&b).await.contains(&id), "B lists what A uploaded");
        assert_eq!(b.download(&id).await, body, "B serves A's bytes ({size})");
        let (s, v) = b.delete(&b.client_key(), &id).await;
        assert!(s == 200 || s == 204, "delete through B: {s} {v}");
        assert!(!list(&a).await.contains(&id), "A no longer lists what B deleted");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_reserves_over_replicas_never_overshoot_a_quota() {
    let place = Place::fresh();
    let (a, b) = pair(&place).await;
    let quota = 150_000u64;
    let (s, v) = a
        .admin(Method::PUT, &format!("projects/{}/quota", a.b("project_id")), Some(json!({"project_bytes": quota})))
        .await;
    assert_eq!(s, 200, "{v}");
    let replicas = Arc::new([a, b]);
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let r = replicas.clone();
        tasks.push(tokio::spawn(async move {
            let d = &r[(i % 2) as usize];
            let body = data(1_000, i);
            let (s, v) = d.reserve_json(&d.client_key(), reserve_body(&body, None)).await;
            (s, v)
        }));
    }
    let mut accepted = 0u64;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            201 => accepted += 1,
            413 | 429 | 507 => assert!(v.is_object(), "a refusal says why: {v}"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(accepted, quota / 1_000, "exactly as many as fit were accepted");
    let usage = replicas[1].usage(None).await;
    let used = usage["used_bytes"].as_u64().or(usage["bytes"].as_u64()).unwrap_or_else(|| panic!("usage: {usage}"));
    assert!(used <= quota, "usage {used} within the quota {quota}");
    assert_eq!(used, accepted * 1_000, "usage counts every accepted reservation once: {usage}");
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarting_fails_requests_cleanly_and_attachd_recovers() {
    let mut pg = Postgres::start();
    let mut place = Place::fresh();
    place.postgres_url = pg.database();
    let d = Daemon::start_with(opts(&place)).await;
    let before = d.upload(&data(2_000, 1)).await;
    pg.stop();
    let (s, v) = d.reserve_json(&d.client_key(), reserve_body(&data(10, 2), None)).await;
    assert_eq!(s, 503, "a reserve with PostgreSQL down is 503: {v}");
    assert!(v.is_object(), "with a JSON body: {v}");
    let (s, v) = d.get(&d.agent_key(), "/v1/attachments").await;
    assert_eq!(s, 503, "a listing with PostgreSQL down is 503: {v}");
    pg.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _) = d.get(&d.agent_key(), "/v1/attachments").await;
        if s == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "attachd did not recover after PostgreSQL came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(list(&d).await.contains(&before));
    let after = d.upload(&data(3_000, 3)).await;
    assert_eq!(d.download(&after).await, data(3_000, 3));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_s3_gateway_down_fails_uploads_cleanly_and_the_reservation_stays_retryable() {
    let mut weed = Weed::start();
    let mut place = Place::fresh();
    place.s3_endpoint = weed.endpoint();
    let d = Daemon::start_with(opts(&place)).await;
    let body = data(5_000, 9);
    let id = d.reserve(&body, None).await;
    weed.stop();
    let (s, v): (u16, Value) = d.put(&d.client_key(), &id, body.clone()).await;
    assert!((500..600).contains(&s), "an upload with the store down fails as the server's fault: {s} {v}");
    assert!(v.is_object(), "with a JSON body: {v}");
    let (s, v) = d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["uploaded_at"].is_null(), "nothing half-indexed: {v}");
    weed.start_again();
    let (s, v) = d.put(&d.client_key(), &id, body.clone()).await;
    assert_eq!(s, 200, "the same reservation uploads once the store is back: {v}");
    assert_eq!(d.download(&id).await, body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_revoked_through_one_replica_stops_working_on_another_within_two_seconds() {
    let place = Place::fresh();
    let (a, b) = pair(&place).await;
    let (_, k) = a.admin(Method::POST, "keys", Some(json!({"kind": "agent", "team_id": a.b("team_id")}))).await;
    let (secret, id) = (k["secret"].as_str().unwrap().to_string(), k["key"]["id"].as_str().unwrap().to_string());
    // B has the key cached after this.
    assert_eq!(b.get(&secret, "/v1/attachments").await.0, 200);
    let (s, _) = a.admin(Method::DELETE, &format!("keys/{id}"), None).await;
    assert_eq!(s, 200);
    let revoked = Instant::now();
    loop {
        let (s, _) = b.get(&secret, "/v1/attachments").await;
        if s == 401 {
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(2), "B still accepts a key revoked through A");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_mid_upload_loses_no_acknowledged_upload_and_leaves_nothing_cleanup_keeps() {
    let place = Place::fresh();
    let o = opts(&place).set("cleanup", "orphan_grace_secs = 0");
    let mut d = Daemon::start_with(o).await;
    let mut acked = Vec::new();
    for i in 0..20u64 {
        let body = data(1_000 + i as usize, i);
        acked.push((d.upload(&body).await, body));
    }
    // A 24 MiB body that arrives in 1 MiB pieces; the replica dies after about half of it.
    let big = data(24 << 20, 99);
    let id = d.reserve(&big, None).await;
    let chunks: Vec<Vec<u8>> = big.chunks(1 << 20).map(|c| c.to_vec()).collect();
    let slow = futures_util::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok::<_, std::io::Error>(c)
    });
    let url = d.url(&format!("/v1/ingest/attachment/{id}"));
    let put = d.http.put(url).bearer_auth(d.client_key()).body(reqwest::Body::wrap_stream(slow)).send();
    let put = tokio::spawn(put);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    d.kill_and_restart().await;
    if let Ok(r) = put.await.unwrap() {
        assert_ne!(r.status(), 200, "the interrupted PUT was not acknowledged");
    }
    for (aid, body) in &acked {
        assert_eq!(&d.download(aid).await, body, "an acknowledged upload survives the kill");
    }
    let (s, v) = d.get(&d.agent_key(), &format!("/v1/attachments/{id}")).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["uploaded_at"].is_null(), "the interrupted upload is still pending: {v}");
    let (s, v) = d.put(&d.client_key(), &id, big.clone()).await;
    assert_eq!(s, 200, "the reservation takes the retry: {v}");
    assert_eq!(d.download(&id).await, big);
    d.cleanup().await;
    let (s, f) = d.admin(Method::POST, "fsck", None).await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["ok"], true, "{f}");
    assert_eq!(f["orphan_files"], json!([]), "no object without a record is left: {f}");
    assert_eq!(f["uploaded"], 21, "{f}");
}

#[tokio::test(flavor = "multi_thread")]
async fn downloads_can_be_redirects_to_presigned_gets_the_store_serves() {
    let place = Place::fresh();
    let d = Daemon::start_with(opts(&place).set("backend", "s3_presign_ttl_secs = 60")).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (i, size) in [1_000usize, 9 << 20].into_iter().enumerate() {
        let body = data(size, 40 + i as u64);
        let id = d.upload(&body).await;
        let r = no_redirects.get(d.download_url(&id).await).send().await.unwrap();
        assert_eq!(r.status(), 302, "a download is a redirect");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with(&place.s3_endpoint), "to the store: {to}");
        let got = d.http.get(&to).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "text/plain", "the record's content type");
        let disposition = got.headers()["content-disposition"].to_str().unwrap().to_string();
        assert!(disposition.starts_with("attachment") && disposition.contains("crash.log"), "{disposition}");
        assert!(got.bytes().await.unwrap() == body[..], "the store serves the bytes ({size})");
        let part = d.http.get(&to).header("range", "bytes=10-19").send().await.unwrap();
        assert_eq!(part.status(), 206);
        assert!(part.bytes().await.unwrap() == body[10..20]);
    }
}
