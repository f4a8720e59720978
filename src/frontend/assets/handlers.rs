//! Seed 003's handlers: authenticate the key's person, resolve the parent (a registered asset
//! or host project in a project the key reaches) or the record, check the fields, call the
//! service, answer `{"asset": …}` or `{"attachments": […]}`.
//!
//! A create takes a JSON body (a placeholder record: no file) or a form whose text parts are
//! the fields and whose `file` part, if any, is the record's file; the file streams into the
//! store first and the record is committed only once the whole form has been read and the
//! fields pass (a refusal discards the bytes). A record's file is attached or replaced by
//! `PUT …/file` with a raw body or a form's `file` part; the record keeps its id, names,
//! owner and creation date.

use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderValue};
use hyper::{Request, StatusCode};

use crate::frontend::files::clean_file_name;
use crate::frontend::single::{OneFile, RawBodies, receive_one};
use crate::http::body::read_json_request;
use crate::http::multipart::{FORM_OVERHEAD, is_form, read_form};
use crate::http::{Reply, json};
use crate::ids::{EndUserId, ProjectId};
use crate::model::{After, Attachment, Metadata, ParentKind, ParentRef};
use crate::service::ServiceError;
use crate::service::direct::{DirectUpload, NewFile, Received};
use crate::service::files::parent_ref;
use crate::service::people::Person;
use crate::service::records::{NoBody, is_placeholder, new_record_id, record_slot};

use super::AssetsApi;
use super::fields::Fields;
use super::route::Under;
use super::views::{Many, One, RecordView};

/// Most records a listing returns (newest first).
pub const MAX_LISTED: usize = 1000;

/// The project and parent reference of `id`, if registered and reached; else the seed's 404.
fn parent(api: &AssetsApi, who: &Person, under: Under, id: &str) -> Result<(ProjectId, ParentRef), ServiceError> {
    let kind = match under {
        Under::Asset => ParentKind::Asset,
        Under::Project => ParentKind::Project,
    };
    let parent = api.service.registered_parent(kind, id, under.noun())?;
    api.service.reach(who, &parent.project_id, ServiceError::EntityNotFound(under.noun()))?;
    Ok((parent.project_id, parent_ref(kind, id)))
}

fn view(api: &AssetsApi, rec: &Attachment) -> Result<RecordView, ServiceError> {
    let owner = match &rec.uploader {
        Some(u) => api.service.email_of(u)?,
        None => None,
    };
    Ok(RecordView::new(rec, owner))
}

fn one(api: &AssetsApi, rec: &Attachment) -> Result<Reply, ServiceError> {
    Ok(json(StatusCode::OK, &One { asset: view(api, rec)? }))
}

/// `GET /api/v2/{assets|projects}/:id/attachments`.
pub async fn list(api: &AssetsApi, under: Under, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    let (project, parent) = parent(api, &who, under, id)?;
    let page = api.service.list_files(&project, &parent, After::Start, MAX_LISTED)?;
    let views = page.files.iter().map(|r| view(api, r)).collect::<Result<Vec<_>, _>>()?;
    Ok(json(StatusCode::OK, &Many { attachments: views }))
}

/// `POST /api/v2/{assets|projects}/:id/attachments`: a record, with its file if a form
/// carries one.
pub async fn create(api: &AssetsApi, under: Under, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    let (project, parent) = parent(api, &who, under, id)?;
    let record = new_record_id();
    let slot = record_slot(&record);
    let limit = api.settings.max_upload_bytes;
    let owner = Some(EndUserId(who.id.0.clone()));
    let target = |bound| DirectUpload::to_slot(project, owner.clone(), slot.clone(), limit, bound, api.settings.scan);
    let (fields, file) = if is_form(&req) {
        read_create_form(api, req, &target).await?
    } else {
        (Fields::from_json(&read_json_request(req, &api.http).await?, true)?, None)
    };
    fields.require_title()?;
    let (received, meta) = match file {
        Some((received, name, content_type)) => {
            (received, Metadata { original_filename: name, content_type, ..Default::default() })
        }
        None => (api.service.receive_direct(target(Some(0)), &mut NoBody).await?, Metadata::default()),
    };
    let mut meta = meta;
    fields.apply(&mut meta);
    let file = NewFile { parents: vec![parent, slot], meta, uploader: Some(who.id.clone()), inherit: false };
    let rec = api.service.commit_direct(received, file).await?;
    one(api, &rec)
}

/// Reads a create form: text parts are fields, the `file` part (at most one) is received.
async fn read_create_form<'t>(
    api: &AssetsApi,
    req: Request<Incoming>,
    target: &impl Fn(Option<u64>) -> DirectUpload<'t>,
) -> Result<(Fields, Option<(Received, String, String)>), ServiceError> {
    let limit = api.settings.max_upload_bytes;
    let length: Option<u64> = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse().ok());
    if length.is_some_and(|n| n > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(ServiceError::PayloadTooLarge { limit });
    }
    let mut names = Fields::FORM_FIELDS.to_vec();
    names.push("file");
    let mut form = read_form(req, &api.http, &names, limit)?;
    let mut fields = Fields::default();
    let mut file = None;
    while let Some(mut part) = form.next_part().await? {
        if part.name() != "file" {
            let name = part.name().to_string();
            fields.add_form_field(&name, &part.text().await?)?;
            continue;
        }
        if file.is_some() {
            return Err(ServiceError::BadParameter("only one file may be uploaded per request".into()));
        }
        let name = clean_file_name(part.file_name().unwrap_or("file"))?;
        let content_type = part.content_type().unwrap_or_else(|| "application/octet-stream".into());
        let received = api.service.receive_direct(target(length), &mut part).await?;
        file = Some((received, name, content_type));
    }
    Ok((fields, file))
}

/// `GET /api/v2/attachments/:id`.
pub async fn get(api: &AssetsApi, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    let (rec, _) = api.service.record(&who, id)?;
    one(api, &rec)
}

/// `PATCH /api/v2/attachments/:id`: edits the fields sent.
pub async fn patch(api: &AssetsApi, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    api.service.record(&who, id)?;
    let fields = Fields::from_json(&read_json_request(req, &api.http).await?, false)?;
    let rec = api.service.edit_record(&who, id, move |meta| fields.apply(meta)).await?;
    one(api, &rec)
}

/// `DELETE /api/v2/attachments/:id`: soft-deletes; answers the record with `deleted` set.
pub async fn delete(api: &AssetsApi, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    let rec = api.service.delete_record(&who, id).await?;
    one(api, &rec)
}

/// `GET|HEAD /api/v2/attachments/:id/file`: the file's bytes; 404 for a placeholder.
pub async fn download(api: &AssetsApi, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    let (rec, _) = api.service.record(&who, id)?;
    if is_placeholder(&rec) {
        return Err(ServiceError::EntityNotFound("file"));
    }
    let open = |bytes: bool| {
        let rec = rec.clone();
        async move { api.service.open_file(rec, !bytes).await }
    };
    let mut r = crate::http::download::serve(&req, open).await?;
    r.headers_mut().insert("content-security-policy", HeaderValue::from_static("sandbox"));
    Ok(r)
}

/// `PUT /api/v2/attachments/:id/file`: attaches a file to the record, or replaces its file.
pub async fn put_file(api: &AssetsApi, id: &str, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.person(&req)?;
    let (rec, _) = api.service.record(&who, id)?;
    let slot = record_slot(id);
    let limit = api.settings.max_upload_bytes;
    // The file counts against the record owner's quota, like the file it replaces.
    let target =
        |bound| DirectUpload::to_slot(rec.project_id, rec.owner.clone(), slot.clone(), limit, bound, api.settings.scan);
    let how = OneFile { field: "file", default_name: "file", raw: RawBodies::AnyType, limit };
    let got = receive_one(&api.service, &api.http, req, how, target).await?;
    let meta = Metadata { original_filename: got.name, content_type: got.content_type, ..Default::default() };
    let file = NewFile { parents: Vec::new(), meta, uploader: None, inherit: true };
    let rec = api.service.commit_direct(got.received, file).await?;
    one(api, &rec)
}
