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

use hyper::Request;
use hyper::body::Incoming;

use crate::http::Reply;
use crate::http::router::method_not_allowed;
use crate::service::ServiceError;

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
pub type SessionsApi = crate::frontend::Api<SessionsSettings>;

impl SessionsApi {
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
