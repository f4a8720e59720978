//! Seed 001's handlers: authenticate the person, resolve the parent (space → project, product
//! or ticket registered there), read the form, call the service, answer.
//!
//! An upload reads the form part by part: the `file` part's name is cleaned and its extension
//! checked against the allowlist before its first byte is read, its first bytes are checked
//! against the extension's type as they arrive, and the body streams into the blob store
//! (`service::direct`); a ticket's optional `comment_id` part may come before or after it.
//! Only when the whole form has been read (no unknown field, one file, not empty) is the file
//! recorded and committed; any refusal before that discards the received bytes.

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Request, StatusCode};

use crate::frontend::files::clean_file_name;
use crate::http::multipart::{FORM_OVERHEAD, read_form};
use crate::http::{Reply, json, query_params};
use crate::ids::{AttachmentId, EndUserId, ProjectId};
use crate::model::control::AliasKind;
use crate::model::{After, Attachment, Metadata, ParentKind, ParentRef};
use crate::service::ServiceError;
use crate::service::direct::{DirectUpload, NewFile, Received};
use crate::service::files::{DeleteRule, parent_ref};
use crate::service::people::Person;

use super::CatalogApi;
use super::views::{AttachmentView, DownloadUrl};
use crate::frontend::types::{FileType, by_extension};

/// Most files a listing returns (newest first).
pub const MAX_LISTED: usize = 1000;

/// The project and product of `space`/`product`, if the person reaches them; else 404.
fn product(api: &CatalogApi, who: &Person, space: &str, product: &str) -> Result<(ProjectId, ParentRef), ServiceError> {
    let svc = &api.service;
    let project = svc.project_by_alias(AliasKind::SpaceSlug, space)?.ok_or(ServiceError::EntityNotFound("Space"))?;
    let parent = svc.registered_parent(ParentKind::Product, product, "Product")?;
    if parent.project_id != project {
        return Err(ServiceError::EntityNotFound("Product"));
    }
    svc.reach(who, &project, ServiceError::EntityNotFound("Space"))?;
    Ok((project, parent_ref(ParentKind::Product, product)))
}

/// The project of `ticket`, if the person reaches it; else 404.
fn ticket(api: &CatalogApi, who: &Person, ticket: &str) -> Result<(ProjectId, ParentRef), ServiceError> {
    let parent = api.service.registered_parent(ParentKind::Ticket, ticket, "Ticket")?;
    api.service.reach(who, &parent.project_id, ServiceError::EntityNotFound("Ticket"))?;
    Ok((parent.project_id, parent_ref(ParentKind::Ticket, ticket)))
}

/// `GET /catalog/spaces/:slug/products/:product_id/attachments`.
pub async fn list_product(
    api: &CatalogApi,
    space: &str,
    prod: &str,
    req: Request<Incoming>,
) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, parent) = product(api, &who, space, prod)?;
    list(api, project, parent)
}

/// `GET /issues/tickets/:ticket_id/attachments`.
pub async fn list_ticket(api: &CatalogApi, t: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, parent) = ticket(api, &who, t)?;
    list(api, project, parent)
}

fn list(api: &CatalogApi, project: ProjectId, parent: ParentRef) -> Result<Reply, ServiceError> {
    let page = api.service.list_files(&project, &parent, After::Start, MAX_LISTED)?;
    let views = page.files.iter().map(|r| view(api, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(json(StatusCode::OK, &views))
}

fn view(api: &CatalogApi, rec: &Attachment) -> Result<AttachmentView, ServiceError> {
    let name = match &rec.uploader {
        Some(u) => api.service.display_name(u)?,
        None => String::new(),
    };
    Ok(AttachmentView::new(rec, name))
}

/// `POST /catalog/spaces/:slug/products/:product_id/attachments`.
pub async fn upload_product(
    api: &CatalogApi,
    space: &str,
    prod: &str,
    req: Request<Incoming>,
) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, parent) = product(api, &who, space, prod)?;
    upload(api, who, project, parent, false, req).await
}

/// `POST /issues/tickets/:ticket_id/attachments`.
pub async fn upload_ticket(api: &CatalogApi, t: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, parent) = ticket(api, &who, t)?;
    upload(api, who, project, parent, true, req).await
}

async fn upload(
    api: &CatalogApi,
    who: Person,
    project: ProjectId,
    parent: ParentRef,
    comments: bool,
    req: Request<Incoming>,
) -> Result<Reply, ServiceError> {
    let limit = api.settings.max_upload_bytes;
    let length: Option<u64> = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse().ok());
    if length.is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(ServiceError::PayloadTooLarge { limit });
    }
    let fields: &[&str] = if comments { &["file", "comment_id"] } else { &["file"] };
    let mut form = read_form(req, &api.http, fields, limit)?;
    let mut file: Option<(Received, String, FileType)> = None;
    let mut comment = None;
    while let Some(mut part) = form.next_part().await? {
        if part.name() == "comment_id" {
            let text = part.text().await?;
            let id = uuid::Uuid::parse_str(text.trim())
                .map_err(|_| ServiceError::BadParameter("comment_id must be a UUID".into()))?;
            comment = Some(ParentRef::uuid(ParentKind::Comment, id));
            continue;
        }
        if file.is_some() {
            return Err(ServiceError::BadParameter("only one file may be uploaded per request".into()));
        }
        let name = clean_file_name(
            part.file_name().ok_or_else(|| ServiceError::BadParameter("the file part must carry a filename".into()))?,
        )?;
        let kind = by_extension(&name).ok_or_else(|| {
            ServiceError::BadParameter(format!("file type not allowed: {name} (allowed: PDF, Word, Excel, PowerPoint, PNG, JPEG, GIF, SVG, CSV, JSON, XML, Parquet, ZIP)"))
        })?;
        let check = move |head: &[u8]| {
            if head.is_empty() || kind.matches(head) {
                Ok(())
            } else {
                Err(ServiceError::BadParameter(format!(
                    "file content does not match its extension .{}",
                    kind.extension
                )))
            }
        };
        let target = DirectUpload {
            project,
            owner: Some(EndUserId(who.id.0.clone())),
            limit,
            bound: length,
            md5: false,
            slot: None,
            check: Some(&check),
            scan: api.settings.scan,
        };
        let received = api.service.receive_direct(target, &mut part).await?;
        if received.measured().len == 0 {
            return Err(ServiceError::BadParameter("the file is empty".into()));
        }
        file = Some((received, name, kind));
    }
    let (received, name, kind) = file.ok_or_else(|| ServiceError::BadParameter("the file field is required".into()))?;
    let mut parents = vec![parent];
    parents.extend(comment);
    let meta = Metadata { original_filename: name, content_type: kind.mime.to_string(), ..Default::default() };
    api.service.remember(&who)?;
    let rec = api
        .service
        .commit_direct(received, NewFile { parents, meta, uploader: Some(who.id.clone()), inherit: false })
        .await?;
    Ok(json(StatusCode::CREATED, &AttachmentView::new(&rec, who.name.clone())))
}

/// `GET /catalog/attachments/:id/download`: a signed URL for the bytes.
pub async fn download_url(api: &CatalogApi, id: AttachmentId, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (rec, _) = api.service.file(&who, id, ParentKind::Product)?;
    let (token, expires) = api.service.download_token_for(&rec, api.settings.download_ttl);
    let base = &api.service.config().public_url;
    let url = format!("{base}{}/catalog/attachments/download?t={token}", api.settings.prefix);
    Ok(json(StatusCode::OK, &DownloadUrl::new(&rec, url, expires)))
}

/// `GET|HEAD /catalog/attachments/download?t=…`: the bytes behind a signed URL.
pub async fn signed_download(api: &CatalogApi, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let q = query_params(&req);
    let token = q.get("t").map(String::as_str);
    let open = |bytes: bool| async move { api.service.open_download(token, !bytes).await };
    sandboxed(crate::http::download::serve(&req, open).await?)
}

/// `GET|HEAD /issues/attachments/:id`: the bytes, for a person who reaches the ticket.
pub async fn ticket_download(
    api: &CatalogApi,
    id: AttachmentId,
    req: Request<Incoming>,
) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (rec, _) = api.service.file(&who, id, ParentKind::Ticket)?;
    let open = |bytes: bool| {
        let rec = rec.clone();
        async move { api.service.open_file(rec, !bytes).await }
    };
    sandboxed(crate::http::download::serve(&req, open).await?)
}

/// Files served to browsers never run as documents of our origin (SVG included).
fn sandboxed(mut r: Reply) -> Result<Reply, ServiceError> {
    r.headers_mut().insert("content-security-policy", HeaderValue::from_static("sandbox"));
    Ok(r)
}

/// `DELETE /catalog/attachments/:id` and `DELETE /issues/attachments/:id`.
pub async fn delete(
    api: &CatalogApi,
    id: AttachmentId,
    kind: ParentKind,
    req: Request<Incoming>,
) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let rule = if kind == ParentKind::Ticket { DeleteRule::UploaderOrParentOwner } else { DeleteRule::UploaderOrAdmin };
    api.service.delete_file(&who, id, kind, rule).await?;
    Ok(json(StatusCode::OK, &serde_json::json!({"message": "Attachment deleted successfully"})))
}
