//! Webhooks on the real binary: a real HTTP receiver here, a real clamd (`scanner.rs`). A
//! project's webhook is told when a file is processed or infected, with a body whose signature
//! verifies under the secret the admin API showed once; a receiver that fails gets the notice
//! again, and a notice queued before a kill -9 is delivered after the restart.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::files::{new_file, put_to};
use crate::harness::{Daemon, Opts};
use crate::scanner::{ClamdProc, EICAR};

/// One request the receiver got.
struct Hit {
    event: String,
    delivery: String,
    signature: String,
    body: Vec<u8>,
}

/// A webhook receiver on a loopback port: answers 500 while `failing`, else 204.
async fn receiver(failing: Arc<AtomicBool>) -> (String, mpsc::UnboundedReceiver<(bool, Hit)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/attachd", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (tx, failing) = (tx.clone(), failing.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (tx, failing) = (tx.clone(), failing.clone());
                    async move {
                        let h =
                            |n: &str| req.headers().get(n).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                        let (event, delivery, signature) =
                            (h("x-attachd-event"), h("x-attachd-delivery"), h("x-attachd-signature"));
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let fail = failing.load(Ordering::SeqCst);
                        let _ = tx.send((fail, Hit { event, delivery, signature, body }));
                        let status = if fail { 500 } else { 204 };
                        Ok::<_, Infallible>(
                            Response::builder().status(status).body(Full::new(bytes::Bytes::new())).unwrap(),
                        )
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    });
    (url, rx)
}

/// Whether `signature` (`t=<unix>,v1=<hex>`) is the HMAC-SHA256 of `"<t>.<body>"` under `secret`.
fn verifies(secret: &str, signature: &str, body: &[u8]) -> bool {
    let Some((t, mac)) = signature.strip_prefix("t=").and_then(|s| s.split_once(",v1=")) else { return false };
    let Ok(mac) = hex::decode(mac) else { return false };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, &[t.as_bytes(), b".", body].concat(), &mac).is_ok()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<(bool, Hit)>) -> (bool, Hit) {
    tokio::time::timeout(Duration::from_secs(60), rx.recv()).await.expect("a webhook call in time").unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn verdicts_reach_the_webhook_signed_and_survive_a_crash() {
    let clamd = ClamdProc::start("60M");
    let failing = Arc::new(AtomicBool::new(false));
    let (url, mut rx) = receiver(failing.clone()).await;
    let opts = Opts::default()
        .set("scanner", format!("clamd_address = \"unix:{}\"", clamd.socket.display()))
        .set("webhooks", "retry_max_secs = 1");
    let mut d = Daemon::start_with(opts).await;
    let project = d.b("project_id");
    let path = format!("projects/{project}/webhook");
    let (s, v) = d.admin(reqwest::Method::PUT, &path, Some(json!({"url": "https://elsewhere/h"}))).await;
    assert_eq!(s, 400, "only http:// receivers: {v}");
    let (s, v) = d.admin(reqwest::Method::PUT, &path, Some(json!({"url": url}))).await;
    assert_eq!(s, 200, "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{v}");
    let (_, shown) = d.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!((shown["url"].as_str(), shown.get("secret")), (Some(url.as_str()), None), "the secret is shown once");

    // A clean file and an infected one: two notices, each signed.
    let (clean, curl) = new_file(&d, "u1", "clean.txt").await;
    assert_eq!(put_to(&d, &curl, b"hello\n".to_vec()).await.0, 200);
    let (bad, burl) = new_file(&d, "u1", "eicar.txt").await;
    assert_eq!(put_to(&d, &burl, EICAR.to_vec()).await.0, 200);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (_, hit) = next(&mut rx).await;
        assert!(verifies(&secret, &hit.signature, &hit.body), "signature {} over {:?}", hit.signature, hit.body);
        assert!(!verifies("whsec_wrong", &hit.signature, &hit.body));
        let v: Value = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(v["event"], hit.event);
        assert_eq!(v["project_id"], project.as_str());
        assert_eq!(hit.delivery, format!("{}:{}", v["file_id"].as_str().unwrap(), v["status"].as_str().unwrap()));
        seen.push((v["file_id"].as_str().unwrap().to_string(), v["event"].as_str().unwrap().to_string()));
    }
    seen.sort();
    let mut want = vec![(clean, "file.processed".to_string()), (bad, "file.infected".to_string())];
    want.sort();
    assert_eq!(seen, want);

    // The receiver fails: the notice is retried; attachd is killed; after the restart it is
    // delivered once the receiver works again.
    failing.store(true, Ordering::SeqCst);
    let (third, turl) = new_file(&d, "u1", "third.txt").await;
    assert_eq!(put_to(&d, &turl, b"third\n".to_vec()).await.0, 200);
    let (failed, hit) = next(&mut rx).await;
    assert!(failed && hit.body.windows(third.len()).any(|w| w == third.as_bytes()));
    let (failed, _) = next(&mut rx).await;
    assert!(failed, "retried after a failure");
    d.kill_and_restart().await;
    failing.store(false, Ordering::SeqCst);
    loop {
        let (failed, hit) = next(&mut rx).await;
        let v: Value = serde_json::from_slice(&hit.body).unwrap();
        assert_eq!(v["file_id"], third.as_str(), "only the undelivered notice is sent again");
        if !failed {
            assert_eq!(v["event"], "file.processed");
            break;
        }
    }
    // Delivered: nothing more arrives.
    assert!(tokio::time::timeout(Duration::from_secs(3), rx.recv()).await.is_err(), "a delivered notice is not resent");
    let (s, _) = d.admin(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(s, 200);
    let (s, _) = d.admin(reqwest::Method::GET, &path, None).await;
    assert_eq!(s, 404);
}
