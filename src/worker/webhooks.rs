//! The webhook worker: delivers the catalog's queued notices (a file processed, infected or
//! failed) to their projects' webhooks, oldest first, and removes each once delivered.
//!
//! The queue (the outbox) lives in the catalog and is written in the same step as the verdict
//! it announces, so nothing is lost across restarts: a notice is delivered at least once. A
//! failed delivery (no connection, a non-2xx reply, a timeout) is retried with back-off per
//! notice, doubling from one second to `retry_max`; the rest of that project's notices wait
//! for the next round, and other projects' notices are not held up (each round reads up to a
//! thousand, skipping those waiting for a retry). A
//! notice whose project has no webhook any more is dropped. Receivers should treat the
//! `X-Attachd-Delivery` header (file and event) as an idempotency key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::model::Notice;
use crate::service::Service;

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Limit on one delivery.
    pub timeout: Duration,
    /// Longest wait between attempts at one notice.
    pub retry_max: Duration,
    /// How often the outbox is read when nothing wakes the worker.
    pub poll: Duration,
}

/// One delivery to make: POST `body` to `url`, signed with `secret`, naming the `event` and
/// the `id` (the same for every attempt at one notice), within `timeout`.
pub struct Delivery {
    /// The webhook URL.
    pub url: String,
    /// Its signing secret.
    pub secret: String,
    /// `file.processed`, `file.infected` or `file.failed`.
    pub event: String,
    /// `<file id>:<status>`.
    pub id: String,
    /// The JSON body.
    pub body: Bytes,
    /// Limit on the exchange.
    pub timeout: Duration,
}

/// How deliveries are made (the HTTP client, given by the composition root): `Ok` on a 2xx.
pub type Deliver = Arc<dyn Fn(Delivery) -> futures_util::future::BoxFuture<'static, Result<u16, String>> + Send + Sync>;

/// The JSON body of a notice.
pub fn body(n: &Notice) -> Bytes {
    let v = serde_json::json!({
        "event": format!("file.{}", n.event.status()),
        "file_id": n.file.to_string(),
        "project_id": n.project.to_string(),
        "status": n.event.status(),
        "occurred_at": n.at.to_iso(),
    });
    Bytes::from(v.to_string())
}

/// Runs the worker until `stop` turns true.
pub fn spawn(
    service: Arc<Service>,
    s: WebhookSettings,
    deliver: Deliver,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Per notice: attempts so far and when the next may start.
        let mut retry: HashMap<(u64, crate::ids::AttachmentId), (u32, Instant)> = HashMap::new();
        loop {
            tokio::select! {
                _ = service.notice_wakeup().notified() => {}
                _ = tokio::time::sleep(s.poll) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            let notices = match service.blocking(|svc| svc.notices(1000)).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the webhook outbox");
                    continue;
                }
            };
            // A project whose receiver failed in this round gets no more attempts in it, so
            // one receiver that is down (or slow to refuse) never holds up the others.
            let mut failing: std::collections::HashSet<crate::ids::ProjectId> = Default::default();
            for n in notices {
                if *stop.borrow() {
                    return;
                }
                let key = (n.at.0, n.file);
                if failing.contains(&n.project) || retry.get(&key).is_some_and(|(_, next)| *next > Instant::now()) {
                    continue;
                }
                let hook = match service.webhook(&n.project) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!(error = %e, "could not read a project's webhook");
                        continue;
                    }
                };
                let delivered = match hook {
                    None => true, // no webhook any more: nothing to tell
                    Some(h) => {
                        let d = Delivery {
                            url: h.url,
                            secret: h.secret,
                            event: format!("file.{}", n.event.status()),
                            id: format!("{}:{}", n.file, n.event.status()),
                            body: body(&n),
                            timeout: s.timeout,
                        };
                        match deliver(d).await {
                            Ok(_) => {
                                crate::metrics::webhook_delivery("ok");
                                true
                            }
                            Err(e) => {
                                crate::metrics::webhook_delivery("failed");
                                let (attempts, _) = retry.get(&key).copied().unwrap_or((0, Instant::now()));
                                let wait =
                                    (Duration::from_secs(1) * 2u32.saturating_pow(attempts.min(20))).min(s.retry_max);
                                tracing::warn!(file = %n.file, error = %e, retry_in = ?wait, attempts = attempts + 1, "webhook delivery failed");
                                retry.insert(key, (attempts + 1, Instant::now() + wait));
                                failing.insert(n.project);
                                false
                            }
                        }
                    }
                };
                if delivered {
                    retry.remove(&key);
                    if let Err(e) = service.blocking(move |svc| svc.notice_sent(&n)).await {
                        tracing::error!(error = %e, "could not remove a delivered notice");
                    }
                }
            }
        }
    })
}
