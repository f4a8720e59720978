//! Seed 004's handlers: an upload URL, the upload, the status, the download.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, ETAG, HeaderValue};
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::clock::Timestamp;
use crate::frontend::files::clean_file_name;
use crate::frontend::types::known;
use crate::http::body::{HyperBody, empty};
use crate::http::{Reply, json, query_params};
use crate::ids::AttachmentId;
use crate::model::Attachment;
use crate::service::signed::{FileState, SignedRequest, file_state};
use crate::service::{Op, ServiceError};

use super::FilesApi;
use super::wire::StatusView;

/// `GET /v1/files/signed-url?filename=…&persist=…`: reserves the file and answers its URL.
pub async fn signed_url(api: &FilesApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.admit(&req, Op::Reserve)?;
    let owner = FilesApi::user_id(&req)?;
    let q = query_params(&req);
    let raw = q.get("filename").filter(|f| !f.is_empty()).ok_or(ServiceError::MissingParameter("filename"))?;
    let filename = clean_file_name(raw)?;
    let persist = match q.get("persist").map(|s| s.to_ascii_lowercase()) {
        None => true,
        Some(p) if p == "true" || p == "1" => true,
        Some(p) if p == "false" || p == "0" => false,
        Some(_) => return Err(ServiceError::BadParameter("persist must be true or false".into())),
    };
    let s = &api.settings;
    // The project's own policy over the API's defaults.
    let policy = api.service.upload_policy(&api.service.app_key_project(&who, Op::Reserve)?)?;
    let allowed = policy.allowed_types.unwrap_or_else(|| s.allowed_types.clone());
    let max_bytes = policy.max_bytes.unwrap_or(s.max_upload_bytes);
    // Never past the lifetime of an unkept file: its URL would outlive it.
    let url_ttl = policy.upload_url_ttl_secs.map(Duration::from_secs).unwrap_or(s.upload_url_ttl).min(s.ephemeral_ttl);
    let kind = known(&filename)
        .filter(|t| allowed.iter().any(|a| a == t.mime))
        .ok_or_else(|| ServiceError::DisallowedContentType(format!("{filename} (allowed: {})", allowed.join(", "))))?;
    let ask = SignedRequest {
        owner,
        filename,
        content_type: kind.mime.to_string(),
        persist,
        max_bytes,
        url_ttl,
        ephemeral_ttl: s.ephemeral_ttl,
        scan: s.scan,
    };
    let file = api.service.create_signed(&who, ask).await?;
    let url = format!("{}{}/v1/files/upload/{}", api.service.config().public_url, s.prefix, file.token);
    // serde_json's map keeps keys sorted, which is the seed's order here.
    let body = json!({
        "expires_in": url_ttl.as_secs(),
        "file_id": file.record.id.to_string(),
        "file_limits": {"allowed_types": allowed, "max_size": max_bytes},
        "file_url": url,
    });
    Ok(json(StatusCode::OK, &body))
}

/// The type check of an upload's first bytes against the type its name was allowed as.
fn content_matches(rec: &Attachment, head: &[u8]) -> Result<(), ServiceError> {
    let name = &rec.meta.original_filename;
    let kind = known(name).ok_or_else(|| ServiceError::DisallowedContentType(name.clone()))?;
    if head.is_empty() || kind.matches(head) {
        Ok(())
    } else {
        Err(ServiceError::BadParameter(format!("file content does not match its extension .{}", kind.extension)))
    }
}

/// `PUT /v1/files/upload/:token`: the file's bytes; 200 with the MD5 as `ETag`.
pub async fn upload(api: &FilesApi, token: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let grant = api.service.upload_grant(token)?;
    let length: Option<u64> = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse().ok());
    let mut body = HyperBody::new(req.into_body(), &api.http);
    let rec = api.service.upload_signed(grant, length, &mut body, &content_matches).await?;
    let md5 = rec.digests.md5.map(|m| hex::encode(m.0)).unwrap_or_default();
    let mut r = hyper::Response::new(empty());
    if let Ok(v) = HeaderValue::from_str(&format!("\"{md5}\"")) {
        r.headers_mut().insert(ETAG, v);
    }
    Ok(r)
}

/// `GET /v1/files/:id/status`.
pub async fn status(api: &FilesApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.admit(&req, Op::OwnFiles)?;
    let owner = FilesApi::user_id(&req)?;
    let rec = api.service.own_file(&who, &owner, id)?;
    Ok(json(StatusCode::OK, &StatusView::of(&rec, Timestamp::now())))
}

/// `GET|HEAD /v1/files/:id`: the bytes of a file that is served (409 while it waits for its
/// bytes or its scan, or is infected; 404 once expired).
pub async fn get(api: &FilesApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.admit(&req, Op::OwnFiles)?;
    let owner = FilesApi::user_id(&req)?;
    let rec = api.service.own_file(&who, &owner, id)?;
    match file_state(&rec, Timestamp::now()) {
        FileState::Waiting => return Err(ServiceError::ScanPending),
        FileState::Expired => return Err(ServiceError::AttachmentNotFound),
        _ => {}
    }
    let open = |bytes: bool| {
        let rec = rec.clone();
        async move { api.service.open_file(rec, !bytes).await }
    };
    crate::http::download::serve(&req, open).await
}
