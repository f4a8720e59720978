//! Direct uploads: a body whose size is not declared up front (a multipart part, a raw PUT to
//! a slot) is received first and recorded after, in one request.
//!
//! The order, which every API that uploads this way follows:
//!   1. **admit** — the project is live, the store has room for the bound, the upload memory
//!      budget has room, and the quota headroom is read (project and owner, crediting a file
//!      this one replaces);
//!   2. **receive** ([`Service::receive_direct`]) — the body streams into a sink of the blob
//!      store (`BodySize::AtMost`), hashed as it arrives (SHA-256 always, MD5 when asked). Its
//!      first bytes go to the caller's content check before any is written; the first byte
//!      past the API's limit is refused (413), and so is the first byte past the quota
//!      headroom. Nothing is recorded yet: a refused or abandoned body leaves nothing behind
//!      (the sink's bytes are discarded, the quota was never charged);
//!   3. **record and commit** ([`Service::commit_direct`]) — the record is reserved with the
//!      measured size and digests (the catalog's atomic quota check: a concurrent upload that
//!      took the headroom meanwhile makes this one fail cleanly), then the blob store commits
//!      bytes and record in one step. For a slot (at most one live file), steps 3's reserve and
//!      commit run under the slot's lock and the commit retires the slot's previous file in
//!      the same catalog write, so concurrent PUTs to one slot leave exactly one live file.
//!
//! A crash between the reserve and the commit leaves a pending reservation that lapses after
//! the reservation TTL (the sweeper drops it, releasing its quota) and staged bytes the
//! orphan sweep removes.

use bytes::{Bytes, BytesMut};

use crate::clock::Timestamp;
use crate::engine::{BodyPlan, BodySize, Commit, Measured, Staged};
use crate::ids::{AttachmentId, EndUserId, ProjectId, UserId};
use crate::model::{After, Attachment, Digests, Metadata, ParentRef, Retention, ScanState};

use super::budget::{MemoryPermit, UPLOAD_OVERHEAD};
use super::upload::BodySource;
use super::{Result, Service, ServiceError, UploadClaim};

/// Bytes of a body's start handed to the content check (enough for every signature `infer`
/// knows).
pub const HEAD_BYTES: usize = 8 << 10;

/// A check of a body's first bytes (at most [`HEAD_BYTES`]; fewer only for a shorter body).
pub type HeadCheck<'a> = &'a (dyn Fn(&[u8]) -> Result<()> + Sync);

/// An upload whose size is unknown up front.
pub struct DirectUpload<'a> {
    /// The project it goes to.
    pub project: ProjectId,
    /// The end user whose quota it counts against.
    pub owner: Option<EndUserId>,
    /// The most bytes this API takes (413 past it).
    pub limit: u64,
    /// A bound on the body from `Content-Length`, if one was sent (sizes the sink only).
    pub bound: Option<u64>,
    /// Whether to compute an MD5 too.
    pub md5: bool,
    /// The slot it goes to, if it replaces what the slot holds.
    pub slot: Option<ParentRef>,
    /// A check of its first bytes, if the API has one (a type allowlist).
    pub check: Option<HeadCheck<'a>>,
    /// Whether the file waits for a content scan before it is served.
    pub scan: bool,
}

impl DirectUpload<'_> {
    /// A file for a slot (replacing what it holds), with its MD5 and no content check: the
    /// uploads of the slot APIs (session points, records).
    pub fn to_slot(
        project: ProjectId,
        owner: Option<EndUserId>,
        slot: ParentRef,
        limit: u64,
        bound: Option<u64>,
        scan: bool,
    ) -> Self {
        Self { project, owner, limit, bound, md5: true, slot: Some(slot), check: None, scan }
    }
}

/// A received body: staged and measured, not yet recorded. Dropping it discards the bytes.
pub struct Received {
    staged: Staged,
    template: Attachment,
    slot: Option<ParentRef>,
    hold: (UploadClaim, MemoryPermit),
    /// Its first bytes (at most [`HEAD_BYTES`]).
    pub head: Bytes,
}

impl Received {
    /// What the sink measured.
    pub fn measured(&self) -> Measured {
        self.staged.measured
    }
}

/// What the caller records about a received file.
#[derive(Debug, Clone, Default)]
pub struct NewFile {
    /// What it is attached to.
    pub parents: Vec<ParentRef>,
    /// Names and descriptions.
    pub meta: Metadata,
    /// The authenticated person who uploaded it.
    pub uploader: Option<UserId>,
    /// For a slot: the file takes the place of the slot's file in a record that outlives it
    /// (`records.rs`): it inherits the replaced file's parents, names (but its own file name
    /// and type), uploader and creation date, read under the slot's lock so no edit is lost;
    /// `parents` and `uploader` above are ignored. An empty slot is `EntityNotFound`.
    pub inherit: bool,
}

impl Service {
    /// Receives a body of unknown size (steps 1 and 2 above).
    pub async fn receive_direct<B: BodySource>(&self, up: DirectUpload<'_>, body: &mut B) -> Result<Received> {
        self.refuse_if_draining()?;
        let project = self.control.project(&*self.catalog, &up.project)?;
        let project = project.filter(|p| p.deleted_at.is_none()).ok_or(ServiceError::ProjectNotFound)?;
        // The bound (a request's `Content-Length`, which for a form includes its framing) only
        // sizes the sink; the front end refuses a request too large up front.
        let bound = up.bound.unwrap_or(up.limit).min(up.limit);
        if !self.blobs.has_room_for(bound) {
            tracing::warn!(bound, "refusing an upload: the store is nearly full");
            return Err(ServiceError::NoSpace);
        }
        let replaced = match &up.slot {
            Some(slot) => self.slot_file(&up.project, slot)?,
            None => None,
        };
        let headroom = self.headroom(&project, up.owner.as_ref(), replaced.as_ref())?;
        let size = BodySize::AtMost(bound);
        let memory = self.upload_budget.take_or_shed(self.blobs.buffered(size) + UPLOAD_OVERHEAD)?;
        let now = Timestamp::now();
        let template = Attachment {
            id: AttachmentId::random(),
            project_id: up.project,
            app_id: None,
            parents: Vec::new(),
            owner: up.owner.clone(),
            uploader: None,
            meta: Metadata::default(),
            size_bytes: 0,
            digests: Digests { sha256: crate::ids::Sha256Digest([0; 32]), md5: None },
            scan: if up.scan { ScanState::Pending } else { ScanState::NotScanned },
            retention: Retention::Kept,
            is_dev: false,
            created_at: now,
            expires_at: now.plus(self.cfg.reservation_ttl),
            uploaded_at: None,
            deleted_at: None,
            location: None,
        };
        let claim = self.uploads.claim(template.id).ok_or(ServiceError::UploadInProgress)?;
        let mut sink = self.blobs.stage(&template, BodyPlan { size, md5: up.md5 }).await?;
        let limits = Limits { limit: up.limit, headroom };
        let head = match feed(body, sink.as_mut(), &limits, up.check).await {
            Ok(head) => head,
            Err(e) => {
                sink.abort().await;
                crate::metrics::upload_outcome(outcome(&e));
                return Err(e);
            }
        };
        let staged = sink.finish().await?;
        Ok(Received { staged, template, slot: up.slot, hold: (claim, memory), head })
    }

    /// Records a received body as `file` and commits it (step 3 above); for a slot, retiring
    /// the slot's previous file in the same commit.
    pub async fn commit_direct(&self, received: Received, file: NewFile) -> Result<Attachment> {
        let Received { staged, template, slot, hold, .. } = received;
        if file.inherit && slot.is_none() {
            return Err(ServiceError::Internal("a file can only inherit a slot's record".into()));
        }
        let m = staged.measured;
        let mut rec = template;
        rec.parents = file.parents;
        rec.parents.sort_by_key(|p| p.kind);
        rec.meta = file.meta;
        rec.uploader = file.uploader;
        rec.size_bytes = m.len;
        rec.digests = Digests { sha256: m.sha256, md5: m.md5 };
        let _slot_guard = match &slot {
            Some(s) => Some(self.slot_locks.lock(s).await),
            None => None,
        };
        // The same, across every replica sharing the catalog (a no-op on one machine).
        let _replicas_slot_guard = match &slot {
            Some(s) => Some(self.catalog.lock_parent(s)?),
            None => None,
        };
        let replaces = match &slot {
            Some(s) => self.slot_file(&rec.project_id, s)?,
            None => None,
        };
        if file.inherit {
            let old = replaces.as_ref().ok_or(ServiceError::EntityNotFound("attachment"))?;
            let (name, content_type) = (rec.meta.original_filename, rec.meta.content_type);
            rec.meta = Metadata { original_filename: name, content_type, ..old.meta.clone() };
            rec.parents = old.parents.clone();
            rec.uploader = old.uploader.clone();
            rec.created_at = old.created_at;
        }
        // A direct upload's record comes into being when it is recorded: created and uploaded
        // at one instant (a record's replacement keeps the record's creation date above).
        let now = Timestamp::now();
        if !file.inherit {
            rec.created_at = now;
        }
        let (svc, r, old) = (self.me(), rec.clone(), replaces.clone());
        tokio::task::spawn_blocking(move || svc.reserve_checked(&r, old.as_ref()))
            .await
            .map_err(|e| ServiceError::Internal(format!("reserve task: {e}")))??;
        let commit = Commit { staged, rec: rec.clone(), now, replaces, settle: false };
        match self.blobs.commit_upload(commit, Box::new(hold)).await {
            Ok(committed) => {
                crate::metrics::upload_outcome("ok");
                crate::metrics::bytes_uploaded(committed.size_bytes);
                self.queued(&committed);
                Ok(committed)
            }
            Err(e) => {
                crate::metrics::upload_outcome("error");
                // Release the reservation's quota now rather than at its deadline.
                if let Err(d) = self.discard_reservation(rec.id).await {
                    tracing::warn!(attachment = %rec.id, error = %d, "could not discard a failed direct upload");
                }
                Err(e.into())
            }
        }
    }

    /// The live, uploaded file a slot of `project` holds, if any (the newest, should a crash
    /// ever have left two).
    pub fn slot_file(&self, project: &ProjectId, slot: &ParentRef) -> Result<Option<Attachment>> {
        self.live_in_slot(slot, Some(project))
    }

    /// The live file a slot holds (in `project`, if given). A replacement committing during
    /// the scan is never missed: when the scan passed a row whose record was still pending
    /// (the new file, not yet committed) and then found the old file already retired, it
    /// found nothing live and scans once more, after that commit.
    pub(crate) fn live_in_slot(&self, slot: &ParentRef, project: Option<&ProjectId>) -> Result<Option<Attachment>> {
        for _ in 0..2 {
            let mut passed_pending = false;
            for row in self.catalog.list_parent(slot, After::Start) {
                let (row, owner) = row?;
                if project.is_some_and(|p| *p != owner) {
                    continue;
                }
                match self.catalog.record(row.id)? {
                    Some(r) if r.is_uploaded() && r.deleted_at.is_none() => return Ok(Some(r)),
                    Some(r) if r.is_pending() => passed_pending = true,
                    _ => {}
                }
            }
            if !passed_pending {
                break;
            }
        }
        Ok(None)
    }

    /// Bytes the upload may take before a quota refuses it, and which quota that is.
    fn headroom(
        &self,
        project: &crate::model::control::Project,
        owner: Option<&EndUserId>,
        replaced: Option<&Attachment>,
    ) -> Result<Headroom> {
        let credit = replaced.map_or(0, |r| r.size_bytes);
        let quota = project.project_quota_bytes.unwrap_or(self.cfg.default_project_quota);
        let used = self.catalog.usage(&project.id, None)?.bytes_u64().saturating_sub(credit);
        let mut room = Headroom { bytes: quota.saturating_sub(used), quota, used, user: false };
        if let Some(u) = owner {
            let quota = project.user_quota_bytes.unwrap_or(self.cfg.default_user_quota);
            let credit = replaced.filter(|r| r.owner.as_ref() == Some(u)).map_or(0, |r| r.size_bytes);
            let used = self.catalog.usage(&project.id, Some(u))?.bytes_u64().saturating_sub(credit);
            if quota.saturating_sub(used) < room.bytes {
                room = Headroom { bytes: quota.saturating_sub(used), quota, used, user: true };
            }
        }
        Ok(room)
    }
}

/// The quota a body must stay within.
#[derive(Debug, Clone, Copy)]
struct Headroom {
    bytes: u64,
    quota: u64,
    used: u64,
    user: bool,
}

pub(super) struct Limits {
    limit: u64,
    headroom: Headroom,
}

impl Limits {
    /// The API's limit alone (the quota was charged up front).
    pub(super) fn only(limit: u64) -> Self {
        Self { limit, headroom: Headroom { bytes: u64::MAX, quota: u64::MAX, used: 0, user: false } }
    }

    /// Refuses `got` bytes if they pass the limit or the headroom.
    fn check(&self, got: u64) -> Result<()> {
        if got > self.limit {
            return Err(ServiceError::PayloadTooLarge { limit: self.limit });
        }
        let h = self.headroom;
        if got > h.bytes {
            crate::metrics::quota_rejected(if h.user { "user" } else { "project" });
            return Err(if h.user {
                ServiceError::UserQuotaExhausted { quota: h.quota, used: h.used, size: got }
            } else {
                ServiceError::ProjectQuotaExhausted { quota: h.quota, used: h.used, size: got }
            });
        }
        Ok(())
    }
}

/// Copies the body into `sink`: the first [`HEAD_BYTES`] are checked before any is written;
/// every chunk is checked against the limits before it is written. Returns the head.
pub(super) async fn feed<B: BodySource>(
    body: &mut B,
    sink: &mut dyn crate::engine::BlobSink,
    limits: &Limits,
    check: Option<HeadCheck<'_>>,
) -> Result<Bytes> {
    let mut got = 0u64;
    let mut head = BytesMut::new();
    let mut head_done = false;
    loop {
        let chunk = body.next_chunk().await.map_err(ServiceError::from)?;
        let end = chunk.is_none();
        if let Some(c) = &chunk {
            got += c.len() as u64;
            limits.check(got)?;
        }
        if !head_done {
            if let Some(c) = chunk {
                head.extend_from_slice(&c);
            }
            if head.len() < HEAD_BYTES && !end {
                continue;
            }
            head_done = true;
            let whole = head.clone().freeze();
            if let Some(check) = check {
                check(&whole[..whole.len().min(HEAD_BYTES)])?;
            }
            if !whole.is_empty() {
                sink.write(whole).await?;
            }
        } else if let Some(c) = chunk {
            sink.write(c).await?;
        }
        if end {
            let n = head.len().min(HEAD_BYTES);
            return Ok(head.freeze().slice(..n));
        }
    }
}

fn outcome(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::UploadAborted | ServiceError::UploadTimedOut => "aborted",
        ServiceError::PayloadTooLarge { .. } => "too_large",
        ServiceError::UserQuotaExhausted { .. } | ServiceError::ProjectQuotaExhausted { .. } => "quota",
        ServiceError::BadParameter(_) | ServiceError::DisallowedContentType(_) => "refused",
        _ => "error",
    }
}
