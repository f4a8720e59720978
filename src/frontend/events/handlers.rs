//! The seed-000 API's handlers: authenticate, read the request, call the service with typed
//! inputs, and answer with the reference's JSON views (`views.rs`).
//!
//! Every handler authenticates the bearer token before reading a body, as the reference does.
//! Where the reference checks the caller's permission before validating the request (reserve,
//! list, link, usage, the project PATCH), the handler asks the service to admit the caller
//! first and parses after, so the first error is the reference's. Calls that write to the
//! catalog run on the blocking pool: a write can wait behind a group commit's flush, and an
//! async worker must never be parked there.

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, StatusCode};

use crate::http::body::{HyperBody, read_json_request};
use crate::http::{Reply, json, query_params};
use crate::ids::{AttachmentId, EndUserId, ProjectId};
use crate::service::auth::{EVENTS_READ, PROJECTS_WRITE};
use crate::service::upload::BodyInfo;
use crate::service::{Op, Service, ServiceError};

use super::EventsApi;
use super::views::{AttachmentDetail, AttachmentPage, AttachmentSummary, DownloadUrl, Reservation, Uploaded, Usage};
use super::{bodies, listing, reserve as reserve_body};

/// Runs `f` on the blocking pool; a panic there is an internal error naming the `what` task.
async fn blocking<T: Send + 'static>(
    api: &EventsApi,
    what: &str,
    f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let svc = api.service.clone();
    tokio::task::spawn_blocking(move || f(&svc))
        .await
        .map_err(|e| ServiceError::Internal(format!("{what} task: {e}")))?
}

/// `POST /v1/ingest/attachment`: admitted, then the body validated in the reference's order.
pub async fn reserve(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let v = read_json_request(req, &api.cfg).await?;
    let rec = blocking(api, "reserve", move |svc| {
        let admitted = svc.authorize(&who, Op::Reserve)?;
        svc.reserve(admitted, reserve_body::parse(&v)?)
    })
    .await?;
    Ok(json(StatusCode::CREATED, &Reservation::new(api.public_url(), &rec)))
}

/// `PUT /v1/ingest/attachment/:id`: the body streamed into the service.
pub async fn upload(api: &EventsApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let headers = req.headers();
    let info = BodyInfo {
        content_type: headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string),
        content_length: headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()),
    };
    let body = HyperBody::new(req.into_body(), &api.cfg);
    let rec = api.service.upload(&who, id, info, body).await?;
    Ok(json(StatusCode::OK, &Uploaded::new(api.public_url(), &rec, api.service.download_token(&rec))))
}

/// `GET /v1/attachments`.
pub async fn list(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let q = query_params(&req);
    let page = blocking(api, "list", move |svc| {
        let admitted = svc.authorize(&who, Op::List)?;
        svc.list(admitted, &listing::parse_query(&q)?)
    })
    .await?;
    let cursor = page.next.as_ref().map(listing::encode_cursor);
    Ok(json(StatusCode::OK, &AttachmentPage::new(&page.records, cursor)))
}

/// `GET /v1/attachments/:id`: the summary and, once uploaded, a signed download URL.
pub async fn get(api: &EventsApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let rec = api.service.get_attachment(&who, id)?;
    let download_url =
        rec.uploaded_at.map(|_| DownloadUrl::new(api.public_url(), &rec, api.service.download_token(&rec)));
    Ok(json(StatusCode::OK, &AttachmentDetail { summary: AttachmentSummary::from(&rec), download_url }))
}

/// `DELETE /v1/attachments/:id`.
pub async fn delete(api: &EventsApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    api.service.soft_delete(&who, id).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"ok": true})))
}

/// `POST /v1/attachments/link`: admitted, then the body checked in the reference's order.
pub async fn link(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let v = read_json_request(req, &api.cfg).await?;
    let admitted = api.service.authorize(&who, Op::Link)?;
    let linked = api.service.link(admitted, bodies::link(&v)?).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "linked": linked })))
}

/// `GET|HEAD /v1/attachments/download?t=…`: the signed token in `t` opens the download, and the
/// shared byte server answers with the reference's headers, ranges, `ETag` and X-Accel offload.
/// A failure to read stored bytes is the reference's "Failed to read attachment".
pub async fn download(api: &EventsApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let q = query_params(&req);
    let token = q.get("t").map(String::as_str);
    let open = |bytes: bool| async move {
        api.service.open_download(token, !bytes).await.map_err(|e| match e {
            ServiceError::Internal(detail) => ServiceError::ReadFailed(detail),
            other => other,
        })
    };
    crate::http::download::serve(&req, open).await
}

/// The path's `projectId`, parsed after the caller's permission (as the reference).
fn project_id(raw: &str) -> Result<ProjectId, ServiceError> {
    raw.parse().map_err(|_| ServiceError::BadParameter("projectId must be a UUID".into()))
}

/// `GET /v1/projects/:id/attachment-usage[?user_id=]`.
pub async fn usage(api: &EventsApi, project: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    who.require(EVENTS_READ)?;
    let pid = project_id(project)?;
    let user = query_params(&req).remove("user_id").filter(|u| !u.is_empty()).map(EndUserId);
    let report = api.service.usage(&who, pid, user)?;
    Ok(json(StatusCode::OK, &Usage::from(&report)))
}

/// `PATCH /v1/projects/:id` (quota fields only): the permission, then the path's id, then the
/// project's visibility and the caller's role, and only then the body's fields.
pub async fn patch(api: &EventsApi, project: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.principal(&req)?;
    let v = read_json_request(req, &api.cfg).await?;
    who.require(PROJECTS_WRITE)?;
    let pid = project_id(project)?;
    let admitted = api.service.authorize(&who, Op::SetQuotas(pid))?;
    let p = api.service.patch_project(admitted, pid, bodies::quota_change(&v)?)?;
    Ok(json(StatusCode::OK, &crate::frontend::views::project_quotas(&p)))
}
