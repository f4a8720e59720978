//! Handlers for reading and managing attachments: list, get (with signed URL), soft delete,
//! and linking to events.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::ids::AttachmentId;
use crate::service::ServiceError;
use crate::service::listing::ListQuery;

use crate::http::body::read_json_request;
use crate::http::{Reply, json, query_params};

use super::EventsApi;

/// `GET /v1/attachments`.
pub async fn list(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let mut q = query_params(&req);
    let query = ListQuery {
        project_id: q.remove("project_id"),
        event_id: q.remove("event_id"),
        event_client_id: q.remove("event_client_id"),
        issue_id: q.remove("issue_id"),
        cursor: q.remove("cursor"),
        limit: q.remove("limit"),
    };
    let svc = api.service.clone();
    let page = tokio::task::spawn_blocking(move || svc.list(&who, &query))
        .await
        .map_err(|e| ServiceError::Internal(format!("list task: {e}")))??;
    Ok(json(StatusCode::OK, &page))
}

/// `GET /v1/attachments/:id`.
pub async fn get(api: &EventsApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let detail = api.service.get_attachment(&who, id)?;
    Ok(json(StatusCode::OK, &detail))
}

/// `DELETE /v1/attachments/:id`.
pub async fn delete(api: &EventsApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    api.service.soft_delete(&who, id).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"ok": true})))
}

/// `POST /v1/attachments/link`.
pub async fn link(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let v = read_json_request(req, &api.cfg).await?;
    let r = api.service.link(&who, &v).await?;
    Ok(json(StatusCode::OK, &r))
}
