//! The deployment users run (issue 9, item 14): one public origin, the shipped
//! `docs/nginx/one-origin.conf` in a real nginx, sending the attachment routes to attachd and
//! everything else of the seed-000 API (`POST /v1/ingest`, `GET /v1/events/…`, projects) to the
//! existing event server — here a stand-in that records what reached it — with the host's event
//! pipeline linking attachments to the events it stored through `POST /v1/attachments/link`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::{data, reserve_body};
use crate::nginx::behind_nginx;

/// A stand-in event server: answers every request with `{"server":"events","method","path"}`
/// and records `METHOD path` of each.
async fn event_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else { return };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match s.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut line = head.lines().next().unwrap_or("").split(' ');
                let (method, path) = (line.next().unwrap_or("").to_string(), line.next().unwrap_or("").to_string());
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match s.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                log.lock().unwrap().push(format!("{method} {path}"));
                let body = json!({"server": "events", "method": method, "path": path}).to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_origin_sends_attachments_to_attachd_and_the_rest_to_the_event_server() {
    let (events_addr, seen) = event_server().await;
    let (d, mut nginx, origin) =
        behind_nginx("one-origin.conf", vec![("server 127.0.0.1:3000;", format!("server {events_addr};"))]).await;
    let http = &d.http;
    let at = |p: &str| format!("{origin}{p}");

    // The SDK's attachment calls, all through the one origin: reserve, PUT (large: a file).
    let bytes = data(200_000, 7);
    let mut body = reserve_body(&bytes, Some("user_42"));
    let client_event_id = body["client_event_id"].as_str().unwrap().to_string();
    body["original_filename"] = json!("screen.png");
    let r = http.post(at("/v1/ingest/attachment")).bearer_auth(d.client_key()).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let id = v["attachment_id"].as_str().unwrap().to_string();
    let upload_url = v["upload_url"].as_str().unwrap().to_string();
    assert_eq!(upload_url, at(&format!("/v1/ingest/attachment/{id}")), "clients keep one base URL");
    let r = http
        .put(&upload_url)
        .bearer_auth(d.client_key())
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The SDK's event batch and the dashboard's event reads go to the event server.
    let event_id = "7f000000-0000-4000-8000-000000000001";
    for (method, path) in [
        (reqwest::Method::POST, "/v1/ingest".to_string()),
        (reqwest::Method::GET, format!("/v1/events/{event_id}")),
        (reqwest::Method::GET, "/v1/events?limit=10".to_string()),
        (reqwest::Method::PATCH, format!("/v1/projects/{}", d.b("project_id"))),
    ] {
        let r = http
            .request(method.clone(), at(&path))
            .bearer_auth(d.client_key())
            .json(&json!({"events": [{"client_event_id": client_event_id}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method} {path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["server"], "events", "{method} {path} reached {v}");
        assert_eq!(v["path"], path.as_str());
    }

    // The host's pipeline stored the event; it links the attachment with its own agent key
    // (events:write), through the origin.
    let (s, k) = d
        .admin(
            reqwest::Method::POST,
            "keys",
            Some(json!({"kind": "agent", "team_id": d.b("team_id"), "permissions": ["events:read", "events:write"]})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let pipeline_key = k["secret"].as_str().unwrap().to_string();
    let r = http
        .post(at("/v1/attachments/link"))
        .bearer_auth(&pipeline_key)
        .json(&json!({"client_event_id": client_event_id, "event_id": event_id, "app_id": d.b("app_id")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["linked"], 1);

    // Dashboards list, read and download through the origin; the file comes by X-Accel-Redirect.
    let r = http.get(at(&format!("/v1/attachments?event_id={event_id}"))).bearer_auth(d.agent_key()).send().await;
    let list: Value = r.unwrap().json().await.unwrap();
    assert_eq!(list["attachments"].as_array().map(Vec::len), Some(1), "{list}");
    let r = http.get(at(&format!("/v1/attachments/{id}"))).bearer_auth(d.agent_key()).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["event_id"], event_id);
    let url = v["download_url"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&origin));
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap()[..] == bytes[..], "the bytes through the one origin");
    let usage = format!("/v1/projects/{}/attachment-usage?user_id=user_42", d.b("project_id"));
    let r = http.get(at(&usage)).bearer_auth(d.agent_key()).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["user_file_count"], 1);

    // The admin API is not reachable from the origin, with or without the token.
    let r = http.get(at("/admin/v1/teams")).bearer_auth(d.admin_token()).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Only the non-attachment calls reached the event server.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.iter().all(|s| !s.contains("attachment")), "{seen:?}");
    let left = nginx.stop();
    assert!(left.is_empty(), "nginx processes left: {left:?}");
}
