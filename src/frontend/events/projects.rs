//! Handlers for project-level reads and settings: attachment usage and quota PATCH.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::service::ServiceError;

use crate::http::body::read_json_request;
use crate::http::{Reply, json, query_params};

use super::EventsApi;

/// `GET /v1/projects/:id/attachment-usage`.
pub async fn usage(api: &EventsApi, project: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let q = query_params(&req);
    let u = api.service.usage(&who, project, q.get("user_id").map(String::as_str))?;
    Ok(json(StatusCode::OK, &u))
}

/// `PATCH /v1/projects/:id` (quota fields only).
pub async fn patch(api: &EventsApi, project: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let v = read_json_request(req, &api.cfg).await?;
    let p = api.service.patch_project(&who, project, &v)?;
    Ok(json(StatusCode::OK, &p))
}
