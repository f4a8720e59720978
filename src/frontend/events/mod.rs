//! The seed-000 attachment API as one front end: the SDK's reserve and upload
//! (`/v1/ingest/attachment`), list, get, delete, link and download (`/v1/attachments`), and
//! project usage and quota settings (`/v1/projects`).
//!
//! Everything vendor-shaped lives in this folder: the routes (`route.rs`), the handlers that
//! read requests and call the service with typed inputs (`handlers.rs`), the request parsers
//! that keep the reference's order of validation (`reserve.rs`, `listing.rs`, `bodies.rs`),
//! the JSON views and URL shapes (`views.rs`), and its error bodies through the shared table
//! (`frontend/errors.rs`). The service below speaks domain types only:
//! it never sees this API's JSON, query strings, cursors or URLs.

pub mod bodies;
pub mod handlers;
pub mod listing;
pub mod reserve;
pub mod route;
pub mod views;

use std::sync::Arc;

use hyper::Request;
use hyper::body::Incoming;

use crate::http::router::method_not_allowed;
use crate::http::{HttpConfig, Reply};
use crate::service::{Principal, Service, ServiceError};

pub use route::Route;

/// The seed-000 API over a service.
pub struct EventsApi {
    /// The service.
    pub service: Arc<Service>,
    /// Body limits.
    pub cfg: HttpConfig,
    /// The public URL and the mount prefix: the base of the URLs it answers with.
    base: String,
}

impl EventsApi {
    /// The API over `service`, mounted under `prefix` (`""`: the root), reading bodies within
    /// `cfg`'s limits.
    pub fn new(service: Arc<Service>, cfg: HttpConfig, prefix: &str) -> Arc<Self> {
        let base = format!("{}{prefix}", service.config().public_url);
        Arc::new(Self { service, cfg, base })
    }

    /// Base of `upload_url` and download URLs, without a trailing slash.
    pub(crate) fn public_url(&self) -> &str {
        &self.base
    }

    /// Authenticates the request's bearer token.
    pub(crate) fn principal(&self, req: &Request<Incoming>) -> Result<Principal, ServiceError> {
        let token = crate::http::auth::bearer(req.headers())?;
        self.service.authenticate(&token)
    }

    async fn dispatch(&self, route: Route, req: Request<Incoming>) -> Result<Reply, ServiceError> {
        match route {
            Route::Reserve => handlers::reserve(self, req).await,
            Route::Upload(id) => handlers::upload(self, id, req).await,
            Route::List => handlers::list(self, req).await,
            Route::Get(id) => handlers::get(self, id, req).await,
            Route::Delete(id) => handlers::delete(self, id, req).await,
            Route::Link => handlers::link(self, req).await,
            Route::Download => handlers::download(self, req).await,
            Route::Usage(p) => handlers::usage(self, &p, req).await,
            Route::PatchProject(p) => handlers::patch(self, &p, req).await,
            Route::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Route::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
        }
    }
}

front_end!(EventsApi, crate::frontend::errors::error_response);
