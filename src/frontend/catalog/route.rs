//! Seed 001's routes: method + path → a typed [`Route`], before any I/O. Pure and
//! table-tested. Attachment ids are UUIDs (400 otherwise); space slugs, product ids and
//! ticket ids are the host's opaque strings (1–255 bytes after percent-decoding, no control
//! characters), looked up as keys and never used as file names.

use hyper::Method;

use crate::http::router::{pick, segments};
use crate::ids::AttachmentId;

/// Every endpoint of the product and ticket files API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /catalog/spaces/:slug/products/:product_id/attachments`
    ListProduct {
        /// The space slug.
        space: String,
        /// The product id.
        product: String,
    },
    /// `POST /catalog/spaces/:slug/products/:product_id/attachments`
    UploadProduct {
        /// The space slug.
        space: String,
        /// The product id.
        product: String,
    },
    /// `DELETE /catalog/attachments/:id`
    DeleteProduct(AttachmentId),
    /// `GET /catalog/attachments/:id/download`: a signed URL
    ProductDownloadUrl(AttachmentId),
    /// `GET|HEAD /catalog/attachments/download?t=…`: the bytes behind a signed URL
    SignedDownload,
    /// `GET /issues/tickets/:ticket_id/attachments`
    ListTicket(String),
    /// `POST /issues/tickets/:ticket_id/attachments`
    UploadTicket(String),
    /// `GET|HEAD /issues/attachments/:id`: the bytes
    TicketDownload(AttachmentId),
    /// `DELETE /issues/attachments/:id`
    DeleteTicket(AttachmentId),
    /// A known path with the wrong method; carries the `Allow` value.
    MethodNotAllowed(&'static str),
    /// A known path with a malformed parameter.
    BadRequest(String),
}

impl Route {
    /// A short, bounded name for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Route::ListProduct { .. } => "catalog_list_product",
            Route::UploadProduct { .. } => "catalog_upload_product",
            Route::DeleteProduct(_) => "catalog_delete_product",
            Route::ProductDownloadUrl(_) => "catalog_download_url",
            Route::SignedDownload => "catalog_signed_download",
            Route::ListTicket(_) => "catalog_list_ticket",
            Route::UploadTicket(_) => "catalog_upload_ticket",
            Route::TicketDownload(_) => "catalog_ticket_download",
            Route::DeleteTicket(_) => "catalog_delete_ticket",
            Route::MethodNotAllowed(_) => "method_not_allowed",
            Route::BadRequest(_) => "bad_request",
        }
    }
}

/// A path segment as the host's id: percent-decoded, 1–255 bytes, no control characters.
pub fn host_id(raw: &str, what: &str) -> Result<String, Route> {
    let s = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| bad(what))?;
    if s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) {
        return Err(bad(what));
    }
    Ok(s.into_owned())
}

fn bad(what: &str) -> Route {
    Route::BadRequest(format!("{what} must be 1-255 bytes without control characters"))
}

fn uuid(raw: &str) -> Result<AttachmentId, Route> {
    raw.parse().map_err(|_| Route::BadRequest("attachment id must be a UUID".into()))
}

/// Routes a request, or `None` for a path that is not this API's. `path` excludes the query
/// and any mount prefix.
pub fn route(m: &Method, path: &str) -> Option<Route> {
    let segs = segments(path);
    let p = |allow, table: &[(Method, Route)]| pick(m, allow, table).unwrap_or_else(Route::MethodNotAllowed);
    let r = || -> Result<Option<Route>, Route> {
        Ok(Some(match segs.as_slice() {
            ["catalog", "spaces", s, "products", pr, "attachments"] => {
                let (space, product) = (host_id(s, "space slug")?, host_id(pr, "product id")?);
                p(
                    "GET, HEAD, POST",
                    &[
                        (Method::GET, Route::ListProduct { space: space.clone(), product: product.clone() }),
                        (Method::POST, Route::UploadProduct { space, product }),
                    ],
                )
            }
            ["catalog", "attachments", "download"] => p("GET, HEAD", &[(Method::GET, Route::SignedDownload)]),
            ["catalog", "attachments", a] => p("DELETE", &[(Method::DELETE, Route::DeleteProduct(uuid(a)?))]),
            ["catalog", "attachments", a, "download"] => {
                p("GET, HEAD", &[(Method::GET, Route::ProductDownloadUrl(uuid(a)?))])
            }
            ["issues", "tickets", t, "attachments"] => {
                let t = host_id(t, "ticket id")?;
                p(
                    "GET, HEAD, POST",
                    &[(Method::GET, Route::ListTicket(t.clone())), (Method::POST, Route::UploadTicket(t))],
                )
            }
            ["issues", "attachments", a] => {
                let a = uuid(a)?;
                p(
                    "GET, HEAD, DELETE",
                    &[(Method::GET, Route::TicketDownload(a)), (Method::DELETE, Route::DeleteTicket(a))],
                )
            }
            _ => return Ok(None),
        }))
    };
    r().unwrap_or_else(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "550e8400-e29b-41d4-a716-446655440000";

    #[test]
    fn table() {
        use Route as R;
        let aid: AttachmentId = ID.parse().unwrap();
        let prod = |s: &str, p: &str| (s.to_string(), p.to_string());
        let (s, p) = prod("analytics", "p-1");
        let cases: Vec<(Method, String, Option<Route>)> = vec![
            (
                Method::GET,
                "/catalog/spaces/analytics/products/p-1/attachments".into(),
                Some(R::ListProduct { space: s.clone(), product: p.clone() }),
            ),
            (
                Method::HEAD,
                "/catalog/spaces/analytics/products/p-1/attachments".into(),
                Some(R::ListProduct { space: s.clone(), product: p.clone() }),
            ),
            (
                Method::POST,
                "/catalog/spaces/analytics/products/p-1/attachments/".into(),
                Some(R::UploadProduct { space: s, product: p }),
            ),
            (
                Method::PUT,
                "/catalog/spaces/a/products/b/attachments".into(),
                Some(R::MethodNotAllowed("GET, HEAD, POST")),
            ),
            (
                Method::GET,
                "/catalog/spaces/a/products/x%2F..%2Fy/attachments".into(),
                Some(R::ListProduct { space: "a".into(), product: "x/../y".into() }),
            ),
            (Method::GET, "/catalog/spaces/a/products/x%00y/attachments".into(), Some(bad("product id"))),
            (Method::GET, "/catalog/spaces/a/products/%FF/attachments".into(), Some(bad("product id"))),
            (Method::DELETE, format!("/catalog/attachments/{ID}"), Some(R::DeleteProduct(aid))),
            (Method::GET, format!("/catalog/attachments/{ID}"), Some(R::MethodNotAllowed("DELETE"))),
            (
                Method::DELETE,
                "/catalog/attachments/nope".into(),
                Some(R::BadRequest("attachment id must be a UUID".into())),
            ),
            (Method::GET, format!("/catalog/attachments/{ID}/download"), Some(R::ProductDownloadUrl(aid))),
            (Method::GET, "/catalog/attachments/download".into(), Some(R::SignedDownload)),
            (Method::POST, "/issues/tickets/T-9/attachments".into(), Some(R::UploadTicket("T-9".into()))),
            (Method::GET, "/issues/tickets/T-9/attachments".into(), Some(R::ListTicket("T-9".into()))),
            (Method::GET, format!("/issues/attachments/{ID}"), Some(R::TicketDownload(aid))),
            (Method::DELETE, format!("/issues/attachments/{ID}"), Some(R::DeleteTicket(aid))),
            (Method::POST, format!("/issues/attachments/{ID}"), Some(R::MethodNotAllowed("GET, HEAD, DELETE"))),
            // Not this API's.
            (Method::GET, "/v1/attachments".into(), None),
            (Method::GET, "/catalog".into(), None),
            (Method::GET, "/issues/tickets".into(), None),
        ];
        for (m, path, want) in cases {
            assert_eq!(route(&m, &path), want, "{m} {path}");
        }
    }
}
