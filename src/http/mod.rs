//! The HTTP library below the front ends: the accept loops (`server.rs`, `ops.rs`), request
//! and response bodies with their limits (`body.rs`), `Range` (`range.rs`), serving stored
//! bytes (`download.rs`), bearer-token extraction (`auth.rs`) and router composition
//! (`router.rs`).
//!
//! It knows no API: each API is a front end (`crate::frontend`) that routes its own paths and
//! answers them, errors included, and a listener's [`Router`] is the list of front ends the
//! composition root mounted on it. [`handle`] wraps every request the same way whichever front
//! end answers it: a request id, a span, the head-size limit, `Connection: close` after a
//! refused body, and the request metric. With the front ends, this is the only code that
//! imports hyper.

pub mod auth;
pub mod body;
pub mod download;
pub mod multipart;
pub mod ops;
pub mod range;
pub mod router;
pub mod server;
pub mod stall;
pub mod webhook;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use tracing::Instrument;

use body::{RespBody, full};
pub use router::{FrontEnd, Reply, Router};

/// Limits every front end reads requests with.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Longest pause inside a request body.
    pub body_idle_timeout: Duration,
    /// Least average bytes per second of a body once it has run for `body_idle_timeout`.
    pub body_min_rate: u64,
    /// Largest JSON body.
    pub max_json_body: usize,
    /// Largest request head (header names and values).
    pub max_header_bytes: usize,
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `server.listen`: the APIs clients use.
    Public,
    /// `metrics.listen`: here only the front ends mounted for it go through [`handle`].
    Ops,
}

/// State shared by every connection: the limits and each listener's router.
pub struct HttpState {
    /// Limits.
    pub cfg: HttpConfig,
    public: Router,
    ops: Router,
    next_request_id: AtomicU64,
}

impl HttpState {
    /// State serving `public` on the public listener and `ops` on the ops listener.
    pub fn new(cfg: HttpConfig, public: Router, ops: Router) -> Self {
        Self { cfg, public, ops, next_request_id: AtomicU64::new(1) }
    }

    /// Whether a front end mounted on listener `on` claims `path`.
    pub fn serves(&self, on: Listener, method: &hyper::Method, path: &str) -> bool {
        self.router(on).claims(method, path)
    }

    fn router(&self, on: Listener) -> &Router {
        match on {
            Listener::Public => &self.public,
            Listener::Ops => &self.ops,
        }
    }
}

/// Handles one request: route through the listener's front ends, answer, record metrics, all
/// inside a span. A front end not mounted on a listener does not exist there: its paths are
/// the shared 404, so the public port does not even reveal the admin API.
pub async fn handle(state: Arc<HttpState>, req: Request<Incoming>, on: Listener) -> Response<RespBody> {
    let started = Instant::now();
    let endpoint = state.router(on).find(req.method(), req.uri().path());
    let name = endpoint.name;
    let rid = state.next_request_id.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("request", id = rid, method = %req.method(), route = name);
    let had_body = !http_body::Body::is_end_stream(req.body());
    let mut resp = async {
        let resp = if head_size(&req) > state.cfg.max_header_bytes {
            let mut r = json(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &serde_json::json!({"error": "Request headers are too large", "code": "headers_too_large"}),
            );
            r.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            r
        } else {
            endpoint.run(req).await
        };
        tracing::debug!(status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "done");
        resp
    }
    .instrument(span)
    .await;
    resp.headers_mut().insert("x-request-id", HeaderValue::from(rid));
    if had_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        // The body may not have been read (a refused upload is answered before its bytes):
        // this connection cannot carry another request, so tell the client not to reuse it.
        resp.headers_mut().insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    crate::metrics::http_request(name, resp.status().as_u16(), started.elapsed());
    resp
}

/// Bytes of the request head as received, near enough (names, values, separators).
fn head_size<B>(req: &Request<B>) -> usize {
    let headers: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    headers + req.uri().to_string().len() + 16
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, v: &T) -> Response<RespBody> {
    let bytes = serde_json::to_vec(v).expect("response values serialize");
    let mut r = Response::new(full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

/// Query-string parameters, percent-decoded; later duplicates win.
pub fn query_params<B>(req: &Request<B>) -> std::collections::HashMap<String, String> {
    let q = req.uri().query().unwrap_or("");
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec =
                |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect()
}
