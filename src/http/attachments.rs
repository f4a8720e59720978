//! Handlers for reading and managing attachments: list, get (with signed URL), soft delete,
//! and linking to events.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::ids::AttachmentId;
use crate::service::ServiceError;
use crate::service::listing::ListQuery;

use super::body::{RespBody, read_json_request};
use super::{HttpState, json, principal, query_params};

/// `GET /v1/attachments`.
pub async fn list(state: &Arc<HttpState>, req: Request<Incoming>) -> Result<Response<RespBody>, ServiceError> {
    let who = principal(state, &req)?;
    let mut q = query_params(&req);
    let query = ListQuery {
        project_id: q.remove("project_id"),
        event_id: q.remove("event_id"),
        event_client_id: q.remove("event_client_id"),
        issue_id: q.remove("issue_id"),
        cursor: q.remove("cursor"),
        limit: q.remove("limit"),
    };
    let svc = state.service.clone();
    let page = tokio::task::spawn_blocking(move || svc.list(&who, &query))
        .await
        .map_err(|e| ServiceError::Internal(format!("list task: {e}")))??;
    Ok(json(StatusCode::OK, &page))
}

/// `GET /v1/attachments/:id`.
pub async fn get(
    state: &Arc<HttpState>,
    id: AttachmentId,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ServiceError> {
    let who = principal(state, &req)?;
    let detail = state.service.get_attachment(&who, id)?;
    Ok(json(StatusCode::OK, &detail))
}

/// `DELETE /v1/attachments/:id`.
pub async fn delete(
    state: &Arc<HttpState>,
    id: AttachmentId,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ServiceError> {
    let who = principal(state, &req)?;
    state.service.soft_delete(&who, id).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"ok": true})))
}

/// `POST /v1/attachments/link`.
pub async fn link(state: &Arc<HttpState>, req: Request<Incoming>) -> Result<Response<RespBody>, ServiceError> {
    let who = principal(state, &req)?;
    let v = read_json_request(req, &state.cfg).await?;
    let r = state.service.link(&who, &v).await?;
    Ok(json(StatusCode::OK, &r))
}
