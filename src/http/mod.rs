//! The HTTP layer: hyper in, typed routes, service calls, responses out.
//!
//! A request is routed by a pure function (`route.rs`), dispatched to the handler for its
//! resource (`ingest.rs`, `attachments.rs`, `download.rs`, `projects.rs`, `admin.rs`), and any
//! error becomes a response through the single table in `error.rs`. This is the only layer that
//! imports hyper.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod body;
pub mod download;
pub mod error;
pub mod ingest;
pub mod ops;
pub mod projects;
pub mod range;
pub mod route;
pub mod server;
pub mod stall;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;
use tracing::Instrument;

use crate::service::{Principal, Service, ServiceError};
use body::{RespBody, full};
use route::Route;

/// Limits and switches the handlers need.
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
    /// Whether the public listener serves the admin API (`server.admin_api = "public"`).
    pub admin_on_public: bool,
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `server.listen`: the API clients use.
    Public,
    /// `metrics.listen`: here only the admin API goes through [`handle`].
    Ops,
}

/// State shared by every connection.
pub struct HttpState {
    /// The service.
    pub service: Arc<Service>,
    /// Limits.
    pub cfg: HttpConfig,
    /// False while starting or draining: `/ready` answers 503.
    pub ready: AtomicBool,
    /// Runs the cleanup job on demand (admin endpoint).
    pub cleanup: Arc<dyn Fn() -> tokio::task::JoinHandle<serde_json::Value> + Send + Sync>,
    next_request_id: AtomicU64,
}

impl HttpState {
    /// New state; not ready until [`HttpState::set_ready`].
    pub fn new(
        service: Arc<Service>,
        cfg: HttpConfig,
        cleanup: Arc<dyn Fn() -> tokio::task::JoinHandle<serde_json::Value> + Send + Sync>,
    ) -> Self {
        Self { service, cfg, ready: AtomicBool::new(false), cleanup, next_request_id: AtomicU64::new(1) }
    }

    /// Marks the daemon ready (or not).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

/// Handles one request: route, dispatch, map errors, record metrics, all inside a span. The
/// admin API exists only on the listener `server.admin_api` names: elsewhere it is a 404, so
/// the public port does not even reveal it.
pub async fn handle(state: Arc<HttpState>, req: Request<Incoming>, on: Listener) -> Response<RespBody> {
    let started = Instant::now();
    let admin_path = req.uri().path().starts_with("/admin/");
    let route = match (on, admin_path) {
        (Listener::Public, true) if !state.cfg.admin_on_public => Route::NotFound,
        (Listener::Ops, false) => Route::NotFound,
        _ => route::route(req.method(), req.uri().path()),
    };
    let name = route.name();
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
            match dispatch(&state, route, req).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            }
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

async fn dispatch(
    state: &Arc<HttpState>,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ServiceError> {
    match route {
        Route::Reserve => ingest::reserve(state, req).await,
        Route::Upload(id) => ingest::upload(state, id, req).await,
        Route::List => attachments::list(state, req).await,
        Route::Get(id) => attachments::get(state, id, req).await,
        Route::Delete(id) => attachments::delete(state, id, req).await,
        Route::Link => attachments::link(state, req).await,
        Route::Download => download::download(state, req).await,
        Route::Usage(p) => projects::usage(state, &p, req).await,
        Route::PatchProject(p) => projects::patch(state, &p, req).await,
        Route::Health => Ok(json(StatusCode::OK, &serde_json::json!({"status": "ok"}))),
        Route::Ready => {
            let ready = state.ready.load(Ordering::SeqCst) && !state.service.is_draining();
            let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
            Ok(json(status, &serde_json::json!({"ready": ready})))
        }
        Route::Admin(a) => admin::handle(state, a, req).await,
        Route::MethodNotAllowed(allow) => {
            let mut r = json(
                StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "Method not allowed", "code": "method_not_allowed"}),
            );
            r.headers_mut().insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
            Ok(r)
        }
        Route::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
        Route::NotFound => {
            Ok(json(StatusCode::NOT_FOUND, &serde_json::json!({"error": "Route not found", "code": "route_not_found"})))
        }
    }
}

/// Authenticates the request's bearer token.
pub(crate) fn principal(state: &HttpState, req: &Request<Incoming>) -> Result<Principal, ServiceError> {
    let token = auth::bearer(req.headers())?;
    state.service.authenticate(&token)
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, v: &T) -> Response<RespBody> {
    let bytes = serde_json::to_vec(v).expect("response values serialize");
    let mut r = Response::new(full(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

/// The response for an error (the table is in `error.rs`).
pub fn error_response(e: &ServiceError) -> Response<RespBody> {
    let reply = error::reply(e);
    let mut r = json(reply.status, &reply.body);
    for (k, v) in reply.headers {
        r.headers_mut().insert(k, v);
    }
    r
}

/// Query-string parameters, percent-decoded; later duplicates win.
pub fn query_params(req: &Request<Incoming>) -> std::collections::HashMap<String, String> {
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
