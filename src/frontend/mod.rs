//! The front ends: one folder (or file) per API attachd serves, each routing its own paths and
//! mapping the service's domain values and errors to its own wire shapes.
//!
//! A front end implements [`crate::http::FrontEnd`]: a pure `route` from method and path to its
//! own typed route (or `None` when the path is not its own), and `serve`, which reads the
//! request, calls the service and answers, errors included. Each API folder writes that with
//! `front_end!` (its `route::route`, its `dispatch`, and how its errors look). The composition root
//! (`crate::daemon`) mounts front ends on each listener's [`crate::http::Router`], so adding an
//! API is one more folder here and one more `mount` there; nothing central lists them.
//!
//! Front ends depend on `crate::http` (the shared server library) and `crate::service`; neither
//! of those names a front end (checked in `layering.rs`).
//!
//! - [`events`] — the seed-000 attachment API (`/v1/ingest/…`, `/v1/attachments/…`, `/v1/projects/…`)
//! - [`admin`]  — the admin API (`/admin/v1/…`), on the listener `server.admin_api` names
//! - [`catalog`] — product and ticket files (seed 001: `/catalog/…`, `/issues/…`)
//! - [`probes`] — `/health` and `/ready` on the public listener
//! - [`sessions`] — session-point slots (seed 002: `/api/v1/project/…`)
//! - [`assets`]  — asset and project attachment records (seed 003: `/api/v2/…`)
//! - [`signed`] — signed-URL files with scanning (seed 004: `/v1/files/…`)
//! - [`files`]  — file names and receiving file bodies, for the APIs people upload through
//! - [`single`] — one file per request, as a raw body or one form part (seeds 002 and 003)
//! - [`types`]  — file types by extension and by content (the type allowlists)
//! - [`errors`] — the one table from service errors to statuses, codes and headers
//! - [`views`]  — wire shapes more than one of them answers with

/// Implements [`crate::http::FrontEnd`] for an API folder's struct: its routes are the
/// folder's `route::route` (named by `Route::name`), answered by the struct's `dispatch`, and
/// its errors rendered by `$error` (a function of `&ServiceError`) in the API's own shape.
macro_rules! front_end {
    ($api:ty, $error:expr) => {
        impl crate::http::FrontEnd for $api {
            type Route = route::Route;

            fn route(&self, method: &hyper::Method, path: &str) -> Option<route::Route> {
                route::route(method, path)
            }

            fn name(route: &route::Route) -> &'static str {
                route.name()
            }

            async fn serve(
                self: std::sync::Arc<Self>,
                route: route::Route,
                req: hyper::Request<hyper::body::Incoming>,
            ) -> crate::http::Reply {
                match self.dispatch(route, req).await {
                    Ok(r) => r,
                    Err(e) => ($error)(&e),
                }
            }
        }
    };
}

/// An API over the service: the service, the HTTP body limits and the API's own settings
/// (`S`). Each API folder names its own: `pub type CatalogApi = Api<CatalogSettings>`.
pub struct Api<S> {
    /// The service.
    pub service: std::sync::Arc<crate::service::Service>,
    /// Body limits.
    pub http: crate::http::HttpConfig,
    /// The API's settings.
    pub settings: S,
}

impl<S> Api<S> {
    /// The API over `service`.
    pub fn new(
        service: std::sync::Arc<crate::service::Service>,
        http: crate::http::HttpConfig,
        settings: S,
    ) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self { service, http, settings })
    }

    /// Authenticates the request's bearer token as a person (a user JWT or a user key).
    pub(crate) fn bearer_person(
        &self,
        req: &hyper::Request<hyper::body::Incoming>,
    ) -> Result<crate::service::people::Person, crate::service::ServiceError> {
        let token = crate::http::auth::bearer(req.headers())?;
        self.service.authenticate_person(&token)
    }
}

pub mod admin;
pub mod assets;
pub mod catalog;
pub mod errors;
pub mod events;
pub mod files;
pub mod probes;
pub mod sessions;
pub mod signed;
pub mod single;
pub mod types;
pub mod views;
