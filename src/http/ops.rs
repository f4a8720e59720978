//! The ops listener: `/metrics` (Prometheus text format), `/health`, `/ready` and whatever front
//! ends the composition root mounts on it (the admin API with `server.admin_api = "ops"`), on
//! an address of its own (loopback by default) so scrapers, load balancers and operators never
//! share the public port's limits, and the admin API is not reachable from where clients are.
//! A path a mounted front end claims goes through [`handle`]; every other path is answered
//! here, before the service is even open.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::body::{RespBody, full};
use super::{HttpState, Listener, handle};

/// Where the routed state appears once the service is up (set only when some front end is
/// mounted on this listener).
pub type OpsSlot = Arc<OnceLock<Arc<HttpState>>>;

/// Serves the ops endpoints until `stop` turns true.
pub async fn serve_ops(
    listener: TcpListener,
    ready: Arc<AtomicBool>,
    routed: OpsSlot,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let ready = ready.clone();
        let routed = routed.clone();
        let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
            let ready = ready.load(Ordering::SeqCst);
            let routed = routed.get().filter(|s| s.serves(Listener::Ops, req.method(), req.uri().path())).cloned();
            async move {
                Ok::<_, Infallible>(match routed {
                    Some(state) => handle(state, req, Listener::Ops).await,
                    None => answer(req.uri().path(), ready),
                })
            }
        });
        tokio::spawn(async move {
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn answer(path: &str, ready: bool) -> Response<RespBody> {
    let (status, ct, body) = match path {
        "/metrics" => (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", crate::metrics::render()),
        "/health" => (StatusCode::OK, "application/json", r#"{"status":"ok"}"#.to_string()),
        "/ready" if ready => (StatusCode::OK, "application/json", r#"{"ready":true}"#.to_string()),
        "/ready" => (StatusCode::SERVICE_UNAVAILABLE, "application/json", r#"{"ready":false}"#.to_string()),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            r#"{"error":"Route not found","code":"route_not_found"}"#.to_string(),
        ),
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}
