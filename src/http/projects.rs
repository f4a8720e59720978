//! Handlers for project-level reads and settings: attachment usage and quota PATCH.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::service::ServiceError;

use super::body::{RespBody, read_json_request};
use super::{HttpState, json, principal, query_params};

/// `GET /v1/projects/:id/attachment-usage`.
pub async fn usage(
    state: &Arc<HttpState>,
    project: &str,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ServiceError> {
    let who = principal(state, &req)?;
    let q = query_params(&req);
    let u = state.service.usage(&who, project, q.get("user_id").map(String::as_str))?;
    Ok(json(StatusCode::OK, &u))
}

/// `PATCH /v1/projects/:id` (quota fields only).
pub async fn patch(
    state: &Arc<HttpState>,
    project: &str,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, ServiceError> {
    let who = principal(state, &req)?;
    let v = read_json_request(req, &state.cfg).await?;
    let p = state.service.patch_project(&who, project, &v)?;
    Ok(json(StatusCode::OK, &p))
}
