//! The public listener's probes as a tiny front end: `GET /health` (the process answers) and
//! `GET /ready` (started, not draining: load balancers stop sending before a shutdown).
//!
//! The ops listener answers its own `/health` and `/ready`, before the service is even open
//! (`crate::http::ops`); these read the same readiness flag and also the service's drain.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};

use crate::http::router::{method_not_allowed, pick, segments};
use crate::http::{FrontEnd, Reply, json};
use crate::service::Service;

/// A probe route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `GET /health`
    Health,
    /// `GET /ready`
    Ready,
    /// A probe path with the wrong method; carries the `Allow` value.
    MethodNotAllowed(&'static str),
}

/// `/health` and `/ready`.
pub struct Probes {
    /// The daemon's readiness flag (false while starting and once draining).
    pub ready: Arc<AtomicBool>,
    /// The service, whose drain also makes `/ready` answer 503.
    pub service: Arc<Service>,
}

/// Routes a probe, or `None` for any other path.
pub fn route(m: &Method, path: &str) -> Option<Probe> {
    let probe = match segments(path).as_slice() {
        ["health"] => Probe::Health,
        ["ready"] => Probe::Ready,
        _ => return None,
    };
    Some(pick(m, "GET, HEAD", &[(Method::GET, probe)]).unwrap_or_else(Probe::MethodNotAllowed))
}

impl FrontEnd for Probes {
    type Route = Probe;

    fn route(&self, method: &Method, path: &str) -> Option<Probe> {
        route(method, path)
    }

    fn name(route: &Probe) -> &'static str {
        match route {
            Probe::Health => "health",
            Probe::Ready => "ready",
            Probe::MethodNotAllowed(_) => "method_not_allowed",
        }
    }

    async fn serve(self: Arc<Self>, route: Probe, _req: Request<Incoming>) -> Reply {
        match route {
            Probe::Health => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
            Probe::Ready => {
                let ready = self.ready.load(Ordering::SeqCst) && !self.service.is_draining();
                let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                json(status, &serde_json::json!({"ready": ready}))
            }
            Probe::MethodNotAllowed(allow) => method_not_allowed(allow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(route(&Method::GET, "/health"), Some(Probe::Health));
        assert_eq!(route(&Method::HEAD, "/ready/"), Some(Probe::Ready));
        assert_eq!(route(&Method::POST, "/ready"), Some(Probe::MethodNotAllowed("GET, HEAD")));
        assert_eq!(route(&Method::GET, "/metrics"), None);
    }
}
