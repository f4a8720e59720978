//! Session-point slots (seed 002) as one front end: each named point of a session holds at
//! most one file; a PUT replaces it atomically, a GET returns its raw bytes, a DELETE empties
//! it. Sessions need no registration: the first PUT creates the slot.
//!
//! The project in the path is an integer, a project's `project_number` alias (admin API). The
//! seed names no credential; attachd takes a person's bearer (a user JWT or a user-bound key),
//! as the other people's APIs do, and answers 404 for a project the caller does not reach.
//! Uploads are limited to `apis.sessions.max_upload_bytes` and report `{length, md5}`; errors
//! are `{"error": <message>, "code": <code>}` with the shared table's statuses.

pub mod handlers;
pub mod route;

use std::sync::Arc;

use hyper::Request;
use hyper::body::Incoming;

use crate::http::router::method_not_allowed;
use crate::http::{HttpConfig, Reply};
use crate::service::people::Person;
use crate::service::{Service, ServiceError};

pub use route::Route;

/// Seed 002's own settings.
#[derive(Debug, Clone)]
pub struct SessionsSettings {
    /// Largest file.
    pub max_upload_bytes: u64,
    /// Whether its files wait for a content scan before they are served.
    pub scan: bool,
}

/// The session-point API over a service.
pub struct SessionsApi {
    /// The service.
    pub service: Arc<Service>,
    /// Body limits.
    pub http: HttpConfig,
    /// Its settings.
    pub settings: SessionsSettings,
}

impl SessionsApi {
    /// The API over `service`.
    pub fn new(service: Arc<Service>, http: HttpConfig, settings: SessionsSettings) -> Arc<Self> {
        Arc::new(Self { service, http, settings })
    }

    /// Authenticates the request's bearer token as a person.
    pub(crate) fn person(&self, req: &Request<Incoming>) -> Result<Person, ServiceError> {
        let token = crate::http::auth::bearer(req.headers())?;
        self.service.authenticate_person(&token)
    }

    async fn dispatch(&self, route: Route, req: Request<Incoming>) -> Result<Reply, ServiceError> {
        match route {
            Route::Get(s) => handlers::get(self, s, req).await,
            Route::Put(s) => handlers::put(self, s, req).await,
            Route::Delete(s) => handlers::delete(self, s, req).await,
            Route::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Route::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
        }
    }
}

front_end!(SessionsApi, |e: &ServiceError| crate::frontend::errors::response_in(e, "error"));
