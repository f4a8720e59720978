//! GET /v1/attachments: order, pagination without skips or repeats, filters, limits, cursors,
//! and linking attachments to events.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::{Daemon, data, reserve_body};

async fn page(d: &Daemon, q: &str) -> Value {
    let (s, v) = d.get(&d.agent_key(), &format!("/v1/attachments{q}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_cover_every_row_once_newest_first() {
    let d = std::sync::Arc::new(Daemon::start().await);
    // Reserve concurrently so many rows share a millisecond (the reference's cursor bug).
    let mut tasks = Vec::new();
    for i in 0..57u64 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move { d.reserve(&data(10, i), None).await }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=10&cursor={c}"),
            None => "?limit=10".into(),
        };
        let p = page(&d, &q).await;
        for a in p["attachments"].as_array().unwrap() {
            seen.push((a["created_at"].as_str().unwrap().to_string(), a["id"].as_str().unwrap().to_string()));
            assert_eq!(a["uploaded_at"], Value::Null, "pending rows are listed");
        }
        if p["has_more"] == false {
            assert_eq!(p["cursor"], Value::Null);
            break;
        }
        cursor = Some(p["cursor"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 57);
    assert_eq!(seen.iter().map(|(_, id)| id.clone()).collect::<HashSet<_>>(), ids);
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "newest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn limit_and_cursor_parameters() {
    let d = Daemon::start().await;
    for i in 0..3 {
        d.reserve(&data(5, i), None).await;
    }
    assert_eq!(page(&d, "?limit=abc").await["attachments"].as_array().unwrap().len(), 3);
    assert_eq!(page(&d, "?limit=0").await["attachments"].as_array().unwrap().len(), 3);
    assert_eq!(page(&d, "?limit=-4").await["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(page(&d, "?limit=2").await["has_more"], true);
    // The reference's ISO cursor: rows strictly older.
    assert_eq!(page(&d, "?cursor=2000-01-01T00:00:00.000Z").await["attachments"], json!([]));
    assert_eq!(page(&d, "?cursor=2999-01-01T00:00:00.000Z").await["attachments"].as_array().unwrap().len(), 3);
    // Malformed values are 400s, never 500s.
    for q in ["?cursor=%%%", "?cursor=abc", "?project_id=nope", "?event_id=1", "?issue_id=x", "?event_client_id=zz"] {
        let (s, v) = d.get(&d.agent_key(), &format!("/v1/attachments{q}")).await;
        assert_eq!(s, 400, "{q}: {v}");
        assert_eq!(v["code"], "bad_parameter");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_and_event_linking_in_both_orders() {
    let d = Daemon::start().await;
    let ce_before = uuid::Uuid::new_v4().to_string();
    let ce_after = uuid::Uuid::new_v4().to_string();
    let event1 = uuid::Uuid::new_v4().to_string();
    let event2 = uuid::Uuid::new_v4().to_string();
    let issue = uuid::Uuid::new_v4().to_string();
    // Attachment first, then the event is linked.
    let mut body = reserve_body(b"one", None);
    body["client_event_id"] = json!(ce_before);
    let (_, r) = d.reserve_json(&d.client_key(), body).await;
    let a1 = r["attachment_id"].as_str().unwrap().to_string();
    let link =
        |ce: &str, ev: &str, issue: Option<&str>| json!({"client_event_id": ce, "event_id": ev, "issue_id": issue});
    let r = d
        .http
        .post(d.url("/v1/attachments/link"))
        .bearer_auth(d.client_key())
        .json(&link(&ce_before, &event1, Some(&issue)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["linked"], 1);
    // Event first (linked before any attachment), then the attachment.
    let r = d
        .http
        .post(d.url("/v1/attachments/link"))
        .bearer_auth(d.client_key())
        .json(&link(&ce_after, &event2, None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["linked"], 0);
    let mut body = reserve_body(b"two", None);
    body["client_event_id"] = json!(ce_after.to_uppercase());
    let (_, r) = d.reserve_json(&d.client_key(), body).await;
    let a2 = r["attachment_id"].as_str().unwrap().to_string();
    let ids = |v: Value| {
        v["attachments"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(page(&d, &format!("?event_id={event1}")).await), vec![a1.clone()]);
    assert_eq!(ids(page(&d, &format!("?issue_id={issue}")).await), vec![a1.clone()]);
    assert_eq!(ids(page(&d, &format!("?event_id={event2}")).await), vec![a2.clone()]);
    assert_eq!(ids(page(&d, &format!("?event_client_id={}", ce_after.to_uppercase())).await), vec![a2.clone()]);
    assert_eq!(ids(page(&d, &format!("?project_id={}&event_id={event2}", d.b("project_id"))).await), vec![a2.clone()]);
    let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{a2}")).await;
    assert_eq!(g["event_id"], json!(event2));
    // Bad link bodies are 400s.
    let r = d
        .http
        .post(d.url("/v1/attachments/link"))
        .bearer_auth(d.client_key())
        .json(&json!({"client_event_id": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Soft-deleted rows leave every list.
    assert_eq!(d.delete(&d.client_key(), &a1).await.0, 200);
    assert_eq!(ids(page(&d, &format!("?event_id={event1}")).await), Vec::<String>::new());
    assert_eq!(ids(page(&d, "").await), vec![a2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn linking_supplies_the_events_user_and_is_scoped_to_an_app() {
    let d = Daemon::start().await;
    let ce = uuid::Uuid::new_v4().to_string();
    let event = uuid::Uuid::new_v4().to_string();
    // Reserved without a user: counted against the project only.
    let mut body = reserve_body(&data(300, 1), None);
    body["client_event_id"] = json!(ce);
    let (_, r) = d.reserve_json(&d.client_key(), body).await;
    let a1 = r["attachment_id"].as_str().unwrap().to_string();
    assert_eq!(d.usage(Some("alice")).await["user_used_bytes"], 0);
    // An agent key (events:write) links it, naming the app, with the event's user.
    let (_, k) = d
        .admin(
            reqwest::Method::POST,
            "keys",
            Some(json!({"kind": "agent", "team_id": d.b("team_id"), "permissions": ["events:read", "events:write"]})),
        )
        .await;
    let writer = k["secret"].as_str().unwrap().to_string();
    let link = json!({"client_event_id": ce, "event_id": event, "user_id": "alice", "app_id": d.b("app_id")});
    let r = d.http.post(d.url("/v1/attachments/link")).bearer_auth(&writer).json(&link).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["linked"], 1);
    let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{a1}")).await;
    assert_eq!((g["event_id"].as_str(), g["user_id"].as_str()), (Some(event.as_str()), Some("alice")));
    let u = d.usage(Some("alice")).await;
    assert_eq!((u["user_used_bytes"].as_u64(), u["user_file_count"].as_u64()), (Some(300), Some(1)));
    // A later reserve for the same client event gets the event and its user.
    let mut body = reserve_body(&data(200, 2), None);
    body["client_event_id"] = json!(ce);
    let (_, r) = d.reserve_json(&d.client_key(), body).await;
    let a2 = r["attachment_id"].as_str().unwrap().to_string();
    let (_, g) = d.get(&d.agent_key(), &format!("/v1/attachments/{a2}")).await;
    assert_eq!((g["event_id"].as_str(), g["user_id"].as_str()), (Some(event.as_str()), Some("alice")));
    assert_eq!(d.usage(Some("alice")).await["user_used_bytes"], 500);
    // Another team cannot link into this app.
    let other = crate::auth::other_team(&d).await;
    let r = d.http.post(d.url("/v1/attachments/link")).bearer_auth(&other.agent_key).json(&link).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
