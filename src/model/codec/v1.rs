//! Version 1 records (written by 0.1.0): seed 000's fields only. Read into the neutral model;
//! never written any more (the encoder below exists for the tests that prove the reading).
//!
//! ```text
//! version=1 | flags | id 16 | project 16 | app 16 | size u64 | sha256 32 | created u64
//! | expires u64 | [client event 16] | [event 16] | [issue 16] | [uploaded u64] | [deleted u64]
//! | [location] | [user str] | filename str | content type str
//! flags: 1 dev, 2 client event, 4 event, 8 issue, 16 user, 32 uploaded, 64 deleted, 128 location
//! ```

use uuid::Uuid;

use crate::clock::Timestamp;
use crate::ids::{AppId, AttachmentId, EndUserId, ProjectId, Sha256Digest};
use crate::model::{Attachment, Digests, Metadata, ParentKind, ParentRef, Retention, ScanState};

use super::Reader;

const F_DEV: u8 = 1;
const F_CLIENT_EVENT: u8 = 1 << 1;
const F_EVENT: u8 = 1 << 2;
const F_ISSUE: u8 = 1 << 3;
const F_USER: u8 = 1 << 4;
const F_UPLOADED: u8 = 1 << 5;
const F_DELETED: u8 = 1 << 6;
const F_LOCATION: u8 = 1 << 7;

/// Decodes a version 1 record.
pub(super) fn decode(b: &[u8]) -> Result<Attachment, String> {
    let mut r = Reader { b, at: 1 };
    let flags = r.u8()?;
    let has = |f: u8| flags & f != 0;
    let id = AttachmentId::from_bytes(r.arr()?);
    let project_id = ProjectId::from_bytes(r.arr()?);
    let app_id = AppId::from_bytes(r.arr()?);
    let size_bytes = r.u64()?;
    let sha256 = Sha256Digest(r.arr()?);
    let created_at = Timestamp(r.u64()?);
    let expires_at = Timestamp(r.u64()?);
    let mut parents = Vec::new();
    for (flag, kind) in
        [(F_CLIENT_EVENT, ParentKind::ClientEvent), (F_EVENT, ParentKind::Event), (F_ISSUE, ParentKind::Issue)]
    {
        if has(flag) {
            parents.push(ParentRef::uuid(kind, Uuid::from_bytes(r.arr()?)));
        }
    }
    let uploaded_at = if has(F_UPLOADED) { Some(Timestamp(r.u64()?)) } else { None };
    let deleted_at = if has(F_DELETED) { Some(Timestamp(r.u64()?)) } else { None };
    let location = if has(F_LOCATION) { Some(r.location()?) } else { None };
    let owner = if has(F_USER) { Some(EndUserId(r.string()?)) } else { None };
    let original_filename = r.string()?;
    let content_type = r.string()?;
    r.finish()?;
    Ok(Attachment {
        id,
        project_id,
        app_id: Some(app_id),
        parents,
        owner,
        uploader: None,
        meta: Metadata { original_filename, content_type, ..Default::default() },
        size_bytes,
        digests: Digests { sha256, md5: None },
        scan: ScanState::NotScanned,
        retention: Retention::Kept,
        is_dev: has(F_DEV),
        created_at,
        expires_at,
        uploaded_at,
        deleted_at,
        location,
    })
}

/// Encodes `rec` as 0.1.0 did (only the fields version 1 has).
#[cfg(test)]
pub fn encode(rec: &Attachment) -> Vec<u8> {
    let parent = |k| rec.parent(k).and_then(ParentRef::as_uuid);
    let flags = super::flags(&[
        (rec.is_dev, F_DEV),
        (parent(ParentKind::ClientEvent).is_some(), F_CLIENT_EVENT),
        (parent(ParentKind::Event).is_some(), F_EVENT),
        (parent(ParentKind::Issue).is_some(), F_ISSUE),
        (rec.owner.is_some(), F_USER),
        (rec.uploaded_at.is_some(), F_UPLOADED),
        (rec.deleted_at.is_some(), F_DELETED),
        (rec.location.is_some(), F_LOCATION),
    ]);
    let mut b = vec![1, flags];
    b.extend_from_slice(rec.id.as_bytes());
    b.extend_from_slice(rec.project_id.as_bytes());
    b.extend_from_slice(rec.app_id.expect("version 1 records have an app").as_bytes());
    b.extend_from_slice(&rec.size_bytes.to_be_bytes());
    b.extend_from_slice(&rec.digests.sha256.0);
    b.extend_from_slice(&rec.created_at.0.to_be_bytes());
    b.extend_from_slice(&rec.expires_at.0.to_be_bytes());
    for k in [ParentKind::ClientEvent, ParentKind::Event, ParentKind::Issue] {
        if let Some(u) = parent(k) {
            b.extend_from_slice(u.as_bytes());
        }
    }
    for t in [rec.uploaded_at, rec.deleted_at].into_iter().flatten() {
        b.extend_from_slice(&t.0.to_be_bytes());
    }
    if let Some(loc) = rec.location {
        super::put_location(&mut b, loc);
    }
    if let Some(u) = &rec.owner {
        super::put_str(&mut b, &u.0);
    }
    super::put_str(&mut b, &rec.meta.original_filename);
    super::put_str(&mut b, &rec.meta.content_type);
    b
}
