//! A request that carries one file, either as its raw body or as one named part of a form:
//! the session-point PUT (seed 002) and a record's `PUT …/file` (seed 003).
//!
//! A form must hold the file in the API's field, once; its name is the part's file name
//! (cleaned) or the API's default. A raw body is named by `?filename=` or the default, and
//! typed by its `Content-Type` where the API takes any (seed 003), or must be
//! `application/octet-stream` where the seed says so (seed 002); anything else is 400. Either
//! way a `Content-Length` past the limit (plus a form's framing) is 413 before a byte is read,
//! and the body streams into the service (`Service::receive_direct`).

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};

use crate::http::body::HyperBody;
use crate::http::multipart::{FORM_OVERHEAD, is_form, read_form};
use crate::http::{HttpConfig, query_params};
use crate::service::direct::{DirectUpload, Received};
use crate::service::{Service, ServiceError};

use super::files::clean_file_name;

/// What raw bodies an API takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawBodies {
    /// Only `application/octet-stream` (the file's type is that).
    OctetStream,
    /// Any type but a form; the file's type is the `Content-Type` sent (default
    /// `application/octet-stream`).
    AnyType,
}

/// How an API takes its one file.
pub struct OneFile<'a> {
    /// The form field that holds it.
    pub field: &'a str,
    /// Its name when the client gives none.
    pub default_name: &'a str,
    /// Raw bodies taken.
    pub raw: RawBodies,
    /// The API's size limit.
    pub limit: u64,
}

/// A received file with the name and type it is stored under.
pub struct Got {
    /// The received body.
    pub received: Received,
    /// Its file name.
    pub name: String,
    /// Its MIME type.
    pub content_type: String,
}

/// Receives the request's one file into the service; `target` is where it goes, given the
/// request's `Content-Length` as a bound.
pub async fn receive_one<'t>(
    svc: &Service,
    http: &HttpConfig,
    req: Request<Incoming>,
    how: OneFile<'_>,
    target: impl Fn(Option<u64>) -> DirectUpload<'t>,
) -> Result<Got, ServiceError> {
    let limit = how.limit;
    let length: Option<u64> = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse().ok());
    if is_form(&req) {
        if length.is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
            return Err(ServiceError::PayloadTooLarge { limit });
        }
        let mut form = read_form(req, http, &[how.field], limit)?;
        let missing = || ServiceError::BadParameter(format!("the form has no {} field", how.field));
        let mut part = form.next_part().await?.ok_or_else(missing)?;
        let name = match part.file_name() {
            Some(n) => clean_file_name(n)?,
            None => default_name(&how),
        };
        let content_type = part.content_type().unwrap_or_else(|| OCTET_STREAM.into());
        let received = svc.receive_direct(target(length), &mut part).await?;
        drop(part);
        if form.next_part().await?.is_some() {
            return Err(ServiceError::BadParameter(format!("only one {} may be uploaded per request", how.field)));
        }
        return Ok(Got { received, name, content_type });
    }
    let sent = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(crate::model::mime::essence);
    let content_type = match (how.raw, sent) {
        (RawBodies::OctetStream, Some(ct)) if ct == OCTET_STREAM => ct,
        (RawBodies::AnyType, None) => OCTET_STREAM.into(),
        (RawBodies::AnyType, Some(ct)) if !ct.is_empty() && !ct.starts_with("multipart/") => ct,
        (RawBodies::OctetStream, _) => {
            return Err(ServiceError::BadParameter(
                "the body must be application/octet-stream or multipart/form-data".into(),
            ));
        }
        (RawBodies::AnyType, _) => {
            return Err(ServiceError::BadParameter("the body must be a file or multipart/form-data".into()));
        }
    };
    if length.is_some_and(|n| n > limit) {
        return Err(ServiceError::PayloadTooLarge { limit });
    }
    let name = match query_params(&req).get("filename").filter(|f| !f.is_empty()) {
        Some(f) => clean_file_name(f)?,
        None => default_name(&how),
    };
    let mut body = HyperBody::new(req.into_body(), http);
    let received = svc.receive_direct(target(length), &mut body).await?;
    Ok(Got { received, name, content_type })
}

const OCTET_STREAM: &str = "application/octet-stream";

/// The API's default name, cleaned like a client's (a point named `a/b` stores `b`; one that
/// cleans to nothing stores `file`).
fn default_name(how: &OneFile<'_>) -> String {
    clean_file_name(how.default_name).unwrap_or_else(|_| "file".into())
}
