//! `GET|HEAD /v1/attachments/download?t=…`: the signed token in `t` opens the download, and
//! the shared byte server (`crate::http::download`) answers with the reference's headers,
//! ranges, `ETag` and X-Accel offload. A failure to read stored bytes is the reference's
//! "Failed to read attachment".

use hyper::Request;
use hyper::body::Incoming;

use crate::http::{Reply, query_params};
use crate::service::ServiceError;

use super::EventsApi;

/// Serves a download.
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
