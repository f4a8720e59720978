//! Seed 002's handlers: a slot's bytes, a PUT that replaces them, a DELETE that empties it.
//!
//! A PUT takes a raw body (`application/octet-stream`, named by `?filename=`, default the
//! point name) or a form whose `attachment` part is the file; any other content type, or a
//! form without that part, is 400. The body streams into the store with SHA-256 and MD5
//! (`service::direct`), then the slot's lock is taken and the file recorded, retiring the
//! slot's previous file in the same commit: concurrent PUTs leave exactly one live file.

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode};

use crate::frontend::single::{OneFile, RawBodies, receive_one};
use crate::http::{Reply, json};
use crate::ids::{EndUserId, ProjectId};
use crate::model::control::AliasKind;
use crate::model::{Metadata, ParentKind};
use crate::service::ServiceError;
use crate::service::direct::{DirectUpload, NewFile};
use crate::service::files::parent_ref;
use crate::service::people::Person;

use super::SessionsApi;
use super::route::Slot;

/// The project a slot's number names, if the person reaches it; and the slot as a parent.
fn slot(api: &SessionsApi, who: &Person, s: &Slot) -> Result<(ProjectId, crate::model::ParentRef), ServiceError> {
    let not_found = || ServiceError::EntityNotFound("Project");
    let project =
        api.service.project_by_alias(AliasKind::ProjectNumber, &s.project.to_string())?.ok_or_else(not_found)?;
    api.service.reach(who, &project, not_found())?;
    Ok((project, parent_ref(ParentKind::SessionPoint, &format!("{}/{}", s.session, s.point))))
}

/// `GET|HEAD`: the raw bytes, `application/octet-stream`; 404 when the point is empty.
pub async fn get(api: &SessionsApi, s: Slot, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, point) = slot(api, &who, &s)?;
    let rec = api.service.slot_file(&project, &point)?.ok_or(ServiceError::EntityNotFound("Attachment"))?;
    let open = |bytes: bool| {
        let rec = rec.clone();
        async move { api.service.open_file(rec, !bytes).await }
    };
    let mut r = crate::http::download::serve(&req, open).await?;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Ok(r)
}

/// `PUT`: stores the file, replacing the point's previous one.
pub async fn put(api: &SessionsApi, s: Slot, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, point) = slot(api, &who, &s)?;
    let limit = api.settings.max_upload_bytes;
    let owner = Some(EndUserId(who.id.0.clone()));
    let target = |bound| DirectUpload::to_slot(project, owner.clone(), point.clone(), limit, bound, api.settings.scan);
    let how = OneFile { field: "attachment", default_name: &s.point, raw: RawBodies::OctetStream, limit };
    let got = receive_one(&api.service, &api.http, req, how, target).await?;
    let meta = Metadata { original_filename: got.name, content_type: got.content_type, ..Default::default() };
    let file = NewFile { parents: vec![point], meta, uploader: Some(who.id.clone()), inherit: false };
    let rec = api.service.commit_direct(got.received, file).await?;
    let md5 = rec.digests.md5.map(|m| hex::encode(m.0)).unwrap_or_default();
    Ok(json(StatusCode::OK, &serde_json::json!({"result": {"length": rec.size_bytes, "md5": md5}})))
}

/// `DELETE`: empties the point; 404 when it was empty.
pub async fn delete(api: &SessionsApi, s: Slot, req: Request<Incoming>) -> Result<Reply, ServiceError> {
    let who = api.bearer_person(&req)?;
    let (project, point) = slot(api, &who, &s)?;
    if !api.service.delete_slot(project, point).await? {
        return Err(ServiceError::EntityNotFound("Attachment"));
    }
    Ok(json(StatusCode::OK, &serde_json::json!({"result": true})))
}
