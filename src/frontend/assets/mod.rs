//! Asset and project attachment records (seed 003) as one front end: records with a title,
//! description, category, tags, status and an external id, under an asset or a host project,
//! created with or without a file, edited, given a file or a new one, and soft-deleted.
//!
//! Callers send a user-bound key in `X-API-KEY` (`owner` is that user's email); anything else,
//! or nothing, is 401. Assets and host projects are registered parents (admin API), so an
//! unknown one is the seed's 404 `{"error": "asset not found"}` / `project not found`. A
//! record is the service's record (`service::records`): its id stays while its file is
//! replaced. Files are limited to `apis.assets.max_upload_bytes` and carry an MD5. Routes in
//! `route.rs`, body rules in `fields.rs`, handlers in `handlers.rs`, JSON in `views.rs`;
//! statuses from the shared table (`frontend/errors.rs`), bodies `{"error", "code"}`.

pub mod fields;
pub mod handlers;
pub mod route;
pub mod views;

use hyper::Request;
use hyper::body::Incoming;

use crate::http::Reply;
use crate::http::router::method_not_allowed;
use crate::service::ServiceError;
use crate::service::people::{Person, Via};

pub use route::Route;

/// Seed 003's own settings.
#[derive(Debug, Clone)]
pub struct AssetsSettings {
    /// Largest file.
    pub max_upload_bytes: u64,
    /// Whether its files wait for a content scan before they are served.
    pub scan: bool,
}

/// The asset-record API over a service.
pub type AssetsApi = crate::frontend::Api<AssetsSettings>;

impl AssetsApi {
    /// Authenticates the request's `X-API-KEY` as a person with a user-bound key.
    pub(crate) fn person(&self, req: &Request<Incoming>) -> Result<Person, ServiceError> {
        let key = match req.headers().get("x-api-key") {
            None => return Err(ServiceError::MissingAuth),
            Some(v) => v.to_str().map_err(|_| ServiceError::InvalidAuthFormat)?.trim(),
        };
        let person = self.service.authenticate_person(key)?;
        match person.via {
            Via::Key { .. } => Ok(person),
            Via::Jwt { .. } => Err(ServiceError::InvalidApiKey),
        }
    }

    async fn dispatch(&self, route: Route, req: Request<Incoming>) -> Result<Reply, ServiceError> {
        match route {
            Route::List(under, id) => handlers::list(self, under, &id, req).await,
            Route::Create(under, id) => handlers::create(self, under, &id, req).await,
            Route::Get(id) => handlers::get(self, &id, req).await,
            Route::Patch(id) => handlers::patch(self, &id, req).await,
            Route::Delete(id) => handlers::delete(self, &id, req).await,
            Route::Download(id) => handlers::download(self, &id, req).await,
            Route::PutFile(id) => handlers::put_file(self, &id, req).await,
            Route::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Route::NotFound(what) => {
                // Authenticate first: an id's shape must not answer before the key does.
                self.person(&req)?;
                Err(ServiceError::EntityNotFound(what))
            }
        }
    }
}

front_end!(AssetsApi, |e: &ServiceError| crate::frontend::errors::response_in(e, "error"));
