//! The seed-000 attachment API as one front end: the SDK's reserve and upload
//! (`/v1/ingest/attachment`), list, get, delete, link and download (`/v1/attachments`), and
//! project usage and quota settings (`/v1/projects`).
//!
//! Everything vendor-shaped lives in this folder: the routes (`route.rs`), the handlers that
//! read requests and call the service (`ingest.rs`, `attachments.rs`, `download.rs`,
//! `projects.rs`), and the one table from service errors to this API's statuses, codes and
//! bodies (`error.rs`). Every request is authenticated before its body is read, as in the
//! reference; every error answer goes through `error.rs`.

pub mod attachments;
pub mod download;
pub mod error;
pub mod ingest;
pub mod projects;
pub mod route;

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request};

use crate::http::router::method_not_allowed;
use crate::http::{FrontEnd, HttpConfig, Reply};
use crate::service::{Principal, Service, ServiceError};

pub use route::Route;

/// The seed-000 API over a service.
pub struct EventsApi {
    /// The service.
    pub service: Arc<Service>,
    /// Body limits.
    pub cfg: HttpConfig,
}

impl EventsApi {
    /// The API over `service`, reading bodies within `cfg`'s limits.
    pub fn new(service: Arc<Service>, cfg: HttpConfig) -> Arc<Self> {
        Arc::new(Self { service, cfg })
    }

    /// Authenticates the request's bearer token.
    pub(crate) fn principal(&self, req: &Request<Incoming>) -> Result<Principal, ServiceError> {
        let token = crate::http::auth::bearer(req.headers())?;
        self.service.authenticate(&token)
    }

    async fn dispatch(&self, route: Route, req: Request<Incoming>) -> Result<Reply, ServiceError> {
        match route {
            Route::Reserve => ingest::reserve(self, req).await,
            Route::Upload(id) => ingest::upload(self, id, req).await,
            Route::List => attachments::list(self, req).await,
            Route::Get(id) => attachments::get(self, id, req).await,
            Route::Delete(id) => attachments::delete(self, id, req).await,
            Route::Link => attachments::link(self, req).await,
            Route::Download => download::download(self, req).await,
            Route::Usage(p) => projects::usage(self, &p, req).await,
            Route::PatchProject(p) => projects::patch(self, &p, req).await,
            Route::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Route::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
        }
    }
}

impl FrontEnd for EventsApi {
    type Route = Route;

    fn route(&self, method: &Method, path: &str) -> Option<Route> {
        route::route(method, path)
    }

    fn name(route: &Route) -> &'static str {
        route.name()
    }

    async fn serve(self: Arc<Self>, route: Route, req: Request<Incoming>) -> Reply {
        match self.dispatch(route, req).await {
            Ok(r) => r,
            Err(e) => error::error_response(&e),
        }
    }
}
