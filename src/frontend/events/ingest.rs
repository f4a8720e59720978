//! Handlers for the SDK's two calls: reserve (`POST /v1/ingest/attachment`) and upload
//! (`PUT /v1/ingest/attachment/:id`).

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, StatusCode};

use crate::ids::AttachmentId;
use crate::service::ServiceError;
use crate::service::upload::BodyInfo;

use crate::http::body::{HyperBody, read_json_request};
use crate::http::{Reply, json};

use super::EventsApi;

/// Reserve: auth first (as the reference), then the JSON body.
pub async fn reserve(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let v = read_json_request(req, &api.cfg).await?;
    // On the blocking pool: the RocksDB write can wait behind a group commit's WAL fsync, and
    // an async worker must never be parked there.
    let svc = api.service.clone();
    let r = tokio::task::spawn_blocking(move || svc.reserve(&who, &v))
        .await
        .map_err(|e| ServiceError::Internal(format!("reserve task: {e}")))??;
    Ok(json(StatusCode::CREATED, &r))
}

/// Upload: stream the body into the service.
pub async fn upload(api: &EventsApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let headers = req.headers();
    let info = BodyInfo {
        content_type: headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string),
        content_length: headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()),
    };
    let body = HyperBody::new(req.into_body(), &api.cfg);
    let r = api.service.upload(&who, id, info, body).await?;
    Ok(json(StatusCode::OK, &r))
}
