//! The admin API (`/admin/v1/…`) as one front end, behind the admin token from
//! `bootstrap.json`: teams, projects, apps, keys, members, quota overrides, test JWTs, admin
//! tokens (rotation and revocation), backups, fsck and on-demand cleanup.
//!
//! It is mounted only on the listener `server.admin_api` names (the ops listener by default);
//! elsewhere its paths do not exist. Its routes are in `route.rs`, its handlers in
//! `handlers.rs`; errors are answered in the `{"error", "code"}` shape through the seed-000
//! table (`crate::frontend::errors`), which is what admin clients have always seen.

pub mod handlers;
pub mod route;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use crate::frontend::errors::error_response;
use crate::http::router::{method_not_allowed, not_found};
use crate::http::{FrontEnd, HttpConfig, Reply};
use crate::service::{Service, ServiceError};

pub use route::{AdminRoute, Routed};

/// Runs the cleanup job on demand and reports what it did.
pub type RunCleanup = Arc<dyn Fn() -> tokio::task::JoinHandle<serde_json::Value> + Send + Sync>;

/// The admin API over a service.
pub struct AdminApi {
    /// The service.
    pub service: Arc<Service>,
    /// Body limits.
    pub cfg: HttpConfig,
    /// The cleanup job, run on demand.
    pub cleanup: RunCleanup,
}

impl AdminApi {
    /// The admin API over `service`, reading bodies within `cfg`'s limits.
    pub fn new(service: Arc<Service>, cfg: HttpConfig, cleanup: RunCleanup) -> Arc<Self> {
        Arc::new(Self { service, cfg, cleanup })
    }
}

impl FrontEnd for AdminApi {
    type Route = Routed;

    fn route(&self, method: &Method, path: &str) -> Option<Routed> {
        route::route(method, path)
    }

    fn name(route: &Routed) -> &'static str {
        route.name()
    }

    async fn serve(self: Arc<Self>, route: Routed, req: Request<Incoming>) -> Reply {
        let out = match route {
            Routed::Admin(a) => handlers::handle(&self, a, req).await,
            Routed::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Routed::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
            Routed::NotFound => Ok(not_found()),
        };
        out.unwrap_or_else(|e| error_response(&e))
    }
}
