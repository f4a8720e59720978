//! Signed-URL files: a file asked for before it exists, uploaded later to a signed URL
//! without the API key, then polled until it is ready (the seed-004 API's flow).
//!
//! 1. **ask** ([`Service::create_signed`]) — an app-scoped key asks for a URL for one file
//!    of one end user: the file is *reserved* for at most the API's size limit (the catalog's
//!    atomic quota check, so outstanding URLs can never overshoot a quota), with its name,
//!    type and retention, and a token naming the file, its expiry and its limit is signed;
//! 2. **upload** ([`Service::upload_signed`]) — a PUT with a valid token claims the
//!    reservation, streams the body into a sink bounded by the limit (SHA-256 and MD5 as it
//!    arrives, the API's content check on its first bytes), and commits it *settled*: the
//!    record takes the measured size and digests and the quota falls to what was used, in the
//!    commit's one catalog write. A second PUT finds the file uploaded (409);
//! 3. **poll and use** ([`Service::own_file`], [`file_state`]) — the owner reads the file's
//!    state, and its bytes once it is served (`scan.rs` refuses a file waiting for its scan,
//!    infected, or not scannable).
//!
//! A URL never used lapses with its token: the reservation sweeper drops it, releasing its
//! quota. A `persist=false` file has a removal deadline from the start (`Retention::Until`):
//! the ephemeral sweep soft-deletes it then, releasing its quota at once and its bytes after
//! the soft-delete grace.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::engine::{BodyPlan, BodySize, Commit};
use crate::ids::{AttachmentId, EndUserId, ProjectId, Sha256Digest};
use crate::model::{Attachment, Digests, Metadata, ParentKind, ParentRef, Retention, ScanState, UploadPolicy};

use super::budget::UPLOAD_OVERHEAD;
use super::direct::{HeadCheck, Limits, feed};
use super::upload::BodySource;
use super::upload_token::{UploadGrant, UploadTokenError};
use super::{Admitted, Op, Result, Service, ServiceError};

/// Largest `max_bytes` a project's upload policy may set (1 TiB).
pub const MAX_POLICY_BYTES: u64 = 1 << 40;
/// Longest upload URL lifetime a project's upload policy may set (7 days; never past the API's
/// ephemeral lifetime either, which the front end applies).
pub const MAX_POLICY_TTL_SECS: u64 = 7 * 86_400;

/// What an upload URL is asked for.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// The end user the file belongs to (the per-user quota's key).
    pub owner: EndUserId,
    /// Its name (cleaned by the front end).
    pub filename: String,
    /// Its type (by its extension).
    pub content_type: String,
    /// Kept until deleted (`true`) or removed after `ephemeral_ttl`.
    pub persist: bool,
    /// Most bytes the upload may have.
    pub max_bytes: u64,
    /// How long the URL takes a PUT.
    pub url_ttl: Duration,
    /// Lifetime of a file that is not kept.
    pub ephemeral_ttl: Duration,
    /// Whether the file waits for a content scan.
    pub scan: bool,
}

/// An upload URL's file and token.
#[derive(Debug, Clone)]
pub struct SignedFile {
    /// The reserved file.
    pub record: Attachment,
    /// The upload token for its URL.
    pub token: String,
}

/// Where a signed-URL file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Asked for; no bytes yet.
    Waiting,
    /// Its URL lapsed unused, or it was removed at its deadline.
    Expired,
    /// Uploaded, waiting for (or in) its scan.
    Scanning,
    /// Uploaded and servable.
    Ready,
    /// The scanner found something: never served.
    Infected,
    /// The scan could not complete: never served.
    Failed,
}

/// The state of `rec` at `now`.
pub fn file_state(rec: &Attachment, now: Timestamp) -> FileState {
    // Removed (at its deadline, or by an operator) and not yet reclaimed.
    if rec.deleted_at.is_some() || matches!(rec.retention, Retention::Until(t) if t < now) {
        return FileState::Expired;
    }
    if !rec.is_uploaded() {
        return if rec.expires_at < now { FileState::Expired } else { FileState::Waiting };
    }
    match rec.scan {
        ScanState::Pending => FileState::Scanning,
        ScanState::NotScanned | ScanState::Clean => FileState::Ready,
        ScanState::Infected(_) => FileState::Infected,
        ScanState::Failed(_) => FileState::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::example::reservation;

    #[test]
    fn states_follow_the_record() {
        let mut r = reservation(crate::ids::ProjectId::random(), Some("u"), 10, 1000);
        r.expires_at = Timestamp(2000);
        assert_eq!(file_state(&r, Timestamp(2000)), FileState::Waiting);
        assert_eq!(file_state(&r, Timestamp(2001)), FileState::Expired, "the URL lapsed unused");
        r.uploaded_at = Some(Timestamp(1500));
        r.scan = ScanState::Pending;
        assert_eq!(
            file_state(&r, Timestamp(3000)),
            FileState::Scanning,
            "uploaded: the URL's expiry no longer matters"
        );
        for (scan, want) in [
            (ScanState::NotScanned, FileState::Ready),
            (ScanState::Clean, FileState::Ready),
            (ScanState::Infected("x".into()), FileState::Infected),
            (ScanState::Failed("y".into()), FileState::Failed),
        ] {
            r.scan = scan;
            assert_eq!(file_state(&r, Timestamp(3000)), want);
        }
        r.deleted_at = Some(Timestamp(4000));
        assert_eq!(file_state(&r, Timestamp(4000)), FileState::Expired);
    }
}

impl Service {
    /// Reserves a file for a key admitted to [`Op::Reserve`] and signs its upload token.
    pub async fn create_signed(&self, who: &Admitted, req: SignedRequest) -> Result<SignedFile> {
        self.refuse_if_draining()?;
        let (app_id, _) = who.expect(Op::Reserve)?.app_scope()?;
        let app = self.live_app(&app_id)?;
        let now = Timestamp::now();
        // The token carries whole seconds and is valid through its last one; the reservation
        // lapses at the end of that second, so the sweeper never drops a URL still valid.
        let token_expiry = now.plus(req.url_ttl).as_secs();
        let expires = Timestamp((token_expiry + 1) * 1_000_000);
        let rec = Attachment {
            id: AttachmentId::random(),
            project_id: app.project_id,
            app_id: Some(app.id),
            parents: vec![super::files::parent_ref(ParentKind::EndUser, &req.owner.0)],
            owner: Some(req.owner),
            uploader: None,
            meta: Metadata { original_filename: req.filename, content_type: req.content_type, ..Default::default() },
            size_bytes: req.max_bytes,
            digests: Digests { sha256: Sha256Digest([0; 32]), md5: None },
            scan: if req.scan { ScanState::Pending } else { ScanState::NotScanned },
            retention: if req.persist { Retention::Kept } else { Retention::Until(now.plus(req.ephemeral_ttl)) },
            is_dev: false,
            created_at: now,
            expires_at: expires,
            uploaded_at: None,
            deleted_at: None,
            location: None,
        };
        let r = rec.clone();
        self.blocking(move |svc| svc.reserve_checked(&r, None)).await?;
        let grant = UploadGrant { file: rec.id, expires_unix: token_expiry, max_bytes: req.max_bytes };
        Ok(SignedFile { token: self.upload_signer.sign(grant), record: rec })
    }

    /// The project an app-scoped key admitted to `op` belongs to.
    pub fn app_key_project(&self, who: &Admitted, op: Op) -> Result<ProjectId> {
        let (app_id, _) = who.expect(op)?.app_scope()?;
        Ok(self.live_app(&app_id)?.project_id)
    }

    /// A project's upload policy (its overrides of the API's defaults; empty if none).
    pub fn upload_policy(&self, project: &ProjectId) -> Result<UploadPolicy> {
        Ok(self.catalog.upload_policy(project)?.unwrap_or_default())
    }

    /// Sets a project's upload policy (`None`: back to the defaults). Limits must be positive
    /// and types `type/subtype`.
    pub fn set_upload_policy(&self, project: ProjectId, policy: Option<UploadPolicy>) -> Result<UploadPolicy> {
        self.catalog.project(&project)?.filter(|p| p.deleted_at.is_none()).ok_or(ServiceError::ProjectNotFound)?;
        if let Some(p) = &policy {
            if p.max_bytes.is_some_and(|n| n == 0 || n > MAX_POLICY_BYTES)
                || p.upload_url_ttl_secs.is_some_and(|n| n == 0 || n > MAX_POLICY_TTL_SECS)
            {
                return Err(ServiceError::BadParameter(format!(
                    "max_bytes must be 1..={MAX_POLICY_BYTES} and upload_url_ttl_secs 1..={MAX_POLICY_TTL_SECS}"
                )));
            }
            let shaped = |t: &String| t.split('/').filter(|s| !s.is_empty()).count() == 2 && t.len() <= 255;
            if p.allowed_types.as_ref().is_some_and(|ts| ts.is_empty() || !ts.iter().all(shaped)) {
                return Err(ServiceError::BadParameter("allowed_types must list MIME types (type/subtype)".into()));
            }
        }
        self.commit_control(vec![crate::model::control::ControlChange::SetUploadPolicy {
            project,
            policy: policy.clone(),
        }])?;
        Ok(policy.unwrap_or_default())
    }

    /// What an upload token grants, or `InvalidUploadToken`.
    pub fn upload_grant(&self, token: &str) -> Result<UploadGrant> {
        self.upload_signer.verify(token, Timestamp::now().as_secs()).map_err(|e| {
            if e != UploadTokenError::Expired {
                tracing::debug!(?e, "refused an upload token");
            }
            ServiceError::InvalidUploadToken
        })
    }

    /// Receives and commits the body of the file `grant` names (step 2 above); `bound` is the
    /// request's `Content-Length`, if sent; `check` sees the file's record and its first bytes
    /// before any is stored.
    pub async fn upload_signed<B: BodySource>(
        &self,
        grant: UploadGrant,
        bound: Option<u64>,
        body: &mut B,
        check: &(dyn Fn(&Attachment, &[u8]) -> Result<()> + Sync),
    ) -> Result<Attachment> {
        self.refuse_if_draining()?;
        let claim = self.uploads.claim(grant.file).ok_or(ServiceError::UploadInProgress)?;
        // Read after claiming: the sweeper skips claimed reservations, so one read pending
        // here stays until this upload ends.
        let rec = self.catalog.record(grant.file)?.ok_or(ServiceError::AttachmentNotFound)?;
        if rec.deleted_at.is_some() {
            return Err(ServiceError::AttachmentNotFound);
        }
        if rec.is_uploaded() {
            return Err(ServiceError::AlreadyUploaded);
        }
        // Checked after claiming: the sweepers skip claimed files, so one that passes here is
        // not removed under this upload.
        let now = Timestamp::now();
        let past_deadline = matches!(rec.retention, Retention::Until(t) if t < now);
        if rec.expires_at < now || past_deadline {
            return Err(ServiceError::InvalidUploadToken);
        }
        let limit = grant.max_bytes.min(rec.size_bytes);
        if bound.is_some_and(|b| b > limit) {
            return Err(ServiceError::PayloadTooLarge { limit });
        }
        let size = BodySize::AtMost(bound.unwrap_or(limit));
        if !self.blobs.has_room_for(size.bound()) {
            return Err(ServiceError::NoSpace);
        }
        let memory = self.upload_budget.take_or_shed(self.blobs.buffered(size) + UPLOAD_OVERHEAD)?;
        let mut sink = self.blobs.stage(&rec, BodyPlan { size, md5: true }).await?;
        let head_check = |head: &[u8]| check(&rec, head);
        let head_check: HeadCheck<'_> = &head_check;
        if let Err(e) = feed(body, sink.as_mut(), &Limits::only(limit), Some(head_check)).await {
            sink.abort().await;
            return Err(e);
        }
        let staged = sink.finish().await?;
        let commit = Commit { staged, rec, now: Timestamp::now(), replaces: None, settle: true };
        let committed = self.blobs.commit_upload(commit, Box::new((claim, memory))).await?;
        crate::metrics::upload_outcome("ok");
        crate::metrics::bytes_uploaded(committed.size_bytes);
        self.queued(&committed);
        Ok(committed)
    }

    /// File `id` for a key admitted to [`Op::OwnFiles`] on behalf of end user `owner`. Only a
    /// file asked for through a signed URL (it has its owner as its [`ParentKind::EndUser`]
    /// parent) by the same app is found: `AttachmentNotFound` for no such file, one removed
    /// and reclaimed, another app's or project's, or one another API stored (never disclosed to
    /// a key that cannot read it); `Forbidden` for another user's file of the same app.
    pub fn own_file(&self, who: &Admitted, owner: &EndUserId, id: AttachmentId) -> Result<Attachment> {
        let (app, _) = who.expect(Op::OwnFiles)?.app_scope()?;
        let rec = self.catalog.record(id)?.ok_or(ServiceError::AttachmentNotFound)?;
        let signed_file =
            matches!(rec.parent(ParentKind::EndUser), Some(ParentRef { id: crate::model::ParentId::Text(_), .. }));
        if rec.app_id != Some(app) || !signed_file {
            return Err(ServiceError::AttachmentNotFound);
        }
        let mine = rec.owner.as_ref() == Some(owner)
            && rec.parent(ParentKind::EndUser).is_some_and(|p| p.id == crate::model::ParentId::Text(owner.0.clone()));
        if !mine {
            return Err(ServiceError::Forbidden("You do not have permission to access this attachment."));
        }
        Ok(rec)
    }
}
