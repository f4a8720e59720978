//! Product and ticket files (seed 001) as one front end: multipart uploads by people to a
//! catalog space's product (`/catalog/…`) or a support ticket (`/issues/…`), listings,
//! downloads (a signed URL for products, the bytes for tickets) and deletes under the seed's
//! rules (a product's file: its uploader or a team admin; a ticket's: its uploader or the
//! ticket's owner).
//!
//! Callers are people (`service::people`): a user JWT or a user-bound key as the bearer.
//! Spaces are project aliases and products and tickets registered parents, so an unknown
//! space, product or ticket is a real 404. Files are checked against the seed's type
//! allowlist by extension and by content (`types.rs`) while they stream, and limited to
//! `apis.catalog.max_upload_bytes` (50 MB): a larger `Content-Length` is refused before
//! reading, a body that grows past it while streaming, nothing kept. Routes in `route.rs`,
//! handlers in `handlers.rs`, JSON in `views.rs`; statuses from the shared table
//! (`frontend/errors.rs`), bodies `{"detail", "code"}`.

pub mod handlers;
pub mod route;
pub mod views;

use std::time::Duration;

use hyper::Request;
use hyper::body::Incoming;

use crate::http::Reply;
use crate::http::router::method_not_allowed;
use crate::service::ServiceError;

pub use route::Route;

/// Seed 001's own settings.
#[derive(Debug, Clone)]
pub struct CatalogSettings {
    /// The path prefix it is mounted under (for the URLs it answers with).
    pub prefix: String,
    /// Largest file.
    pub max_upload_bytes: u64,
    /// Lifetime of product download URLs.
    pub download_ttl: Duration,
    /// Whether its files wait for a content scan before they are served.
    pub scan: bool,
}

/// The product and ticket files API over a service.
pub type CatalogApi = crate::frontend::Api<CatalogSettings>;

impl CatalogApi {
    async fn dispatch(&self, route: Route, req: Request<Incoming>) -> Result<Reply, ServiceError> {
        use crate::model::ParentKind::{Product, Ticket};
        match route {
            Route::ListProduct { space, product } => handlers::list_product(self, &space, &product, req).await,
            Route::UploadProduct { space, product } => handlers::upload_product(self, &space, &product, req).await,
            Route::ListTicket(t) => handlers::list_ticket(self, &t, req).await,
            Route::UploadTicket(t) => handlers::upload_ticket(self, &t, req).await,
            Route::ProductDownloadUrl(id) => handlers::download_url(self, id, req).await,
            Route::SignedDownload => handlers::signed_download(self, req).await,
            Route::TicketDownload(id) => handlers::ticket_download(self, id, req).await,
            Route::DeleteProduct(id) => handlers::delete(self, id, Product, req).await,
            Route::DeleteTicket(id) => handlers::delete(self, id, Ticket, req).await,
            Route::MethodNotAllowed(allow) => Ok(method_not_allowed(allow)),
            Route::BadRequest(msg) => Err(ServiceError::BadParameter(msg)),
        }
    }
}

/// An error in this API's body shape.
pub fn error_response(e: &ServiceError) -> Reply {
    crate::frontend::errors::response_in(e, "detail")
}

front_end!(CatalogApi, error_response);
