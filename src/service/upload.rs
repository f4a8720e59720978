//! `PUT /v1/ingest/attachment/:id`: stream, count, hash, verify, store, commit.
//!
//! Checks run in the reference's order (app scope, 404, 403 other app, 410 deleted, 409
//! uploaded), then ours: 410 for a lapsed reservation, 409 while another PUT holds the claim,
//! 415 for a body that is not `application/octet-stream`, and an early `size_mismatch` when
//! `Content-Length` disagrees with the reservation. The body is then streamed into a sink of
//! the blob store (`engine::BlobStore::stage`), which hashes it as it arrives, counted here
//! (a body longer than declared stops at the first byte too many); what the sink measured is
//! checked against the reservation; then the blob store commits bytes and record as one step
//! (on the local backend: the group commit).
//! Outcomes: a size or hash mismatch discards the reservation (quota released, the reference's
//! codes); a client that disconnects or stalls leaves the reservation pending, so the SDK's
//! retry succeeds. Before reading a byte, the upload takes its share of the upload memory
//! budget (`budget`: what the blob store says the body holds in memory), or is refused with a
//! retryable 503. Nothing partial is ever visible: a sink or staged body dropped before its
//! commit discards its bytes. The claim and the memory permit travel with the commit, so a
//! retry cannot start, and the bytes stay counted, until the first attempt's commit has an
//! outcome.

use std::future::Future;

use bytes::Bytes;

use crate::clock::Timestamp;
use crate::engine::{BlobSink, BodyPlan, BodySize, Commit, Measured, Staged};
use crate::ids::AttachmentId;
use crate::model::Attachment;

use super::auth::EVENTS_WRITE;
use super::budget::UPLOAD_OVERHEAD;
use super::{Principal, Result, Service, ServiceError, UploadClaim};

/// Why the body stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The client went away (or sent a malformed body).
    Aborted,
    /// The client paused longer than the idle timeout.
    TimedOut,
    /// The body's framing is broken (a multipart form cut short or damaged).
    Malformed,
    /// The body is larger than the API takes (this many bytes).
    TooLarge(u64),
}

impl From<BodyError> for ServiceError {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::Aborted => ServiceError::UploadAborted,
            BodyError::TimedOut => ServiceError::UploadTimedOut,
            BodyError::Malformed => ServiceError::BadParameter(
                "malformed multipart body: it ended before its closing boundary or a part is damaged".into(),
            ),
            BodyError::TooLarge(limit) => ServiceError::PayloadTooLarge { limit },
        }
    }
}

/// A request body, chunk by chunk (implemented by the HTTP layer).
pub trait BodySource: Send {
    /// The next chunk; `Ok(None)` at the end.
    fn next_chunk(&mut self) -> impl Future<Output = std::result::Result<Option<Bytes>, BodyError>> + Send;
}

/// What the caller told us about the body.
#[derive(Debug, Clone, Default)]
pub struct BodyInfo {
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// `Content-Length`, if sent (absent for chunked bodies).
    pub content_length: Option<u64>,
}

impl Service {
    /// Runs one PUT; returns the committed record. Failures on our side are reported as the
    /// reference's "Upload failed".
    pub async fn upload<B: BodySource>(
        &self,
        principal: &Principal,
        id: AttachmentId,
        info: BodyInfo,
        body: B,
    ) -> Result<Attachment> {
        self.upload_inner(principal, id, info, body).await.map_err(|e| match e {
            ServiceError::Internal(detail) => ServiceError::UploadFailed(detail),
            other => other,
        })
    }

    async fn upload_inner<B: BodySource>(
        &self,
        principal: &Principal,
        id: AttachmentId,
        info: BodyInfo,
        mut body: B,
    ) -> Result<Attachment> {
        let (rec, claim) = self.admit(principal, id, &info)?;
        match info.content_length {
            Some(n) if n > rec.size_bytes => {
                return self.fail_mismatch(&rec, ServiceError::SizeExceeded).await;
            }
            Some(n) if n < rec.size_bytes => {
                return self.fail_mismatch(&rec, ServiceError::SizeShort { got: n, declared: rec.size_bytes }).await;
            }
            _ => {}
        }
        let memory = self
            .upload_budget
            .take_or_shed(self.blobs.buffered(BodySize::Exactly(rec.size_bytes)) + UPLOAD_OVERHEAD)?;
        let staged = match self.receive(&rec, &mut body).await {
            Ok(p) => p,
            Err(e @ (ServiceError::SizeExceeded | ServiceError::SizeShort { .. } | ServiceError::HashMismatch)) => {
                return self.fail_mismatch(&rec, e).await;
            }
            Err(e) => {
                crate::metrics::upload_outcome(
                    if matches!(e, ServiceError::UploadAborted | ServiceError::UploadTimedOut) {
                        "aborted"
                    } else {
                        "error"
                    },
                );
                return Err(e);
            }
        };
        // The claim and the memory permit are held until the commit has an outcome.
        let commit = Commit { staged, rec, now: Timestamp::now(), replaces: None, settle: false };
        let committed = match self.blobs.commit_upload(commit, Box::new((claim, memory))).await {
            Ok(r) => r,
            Err(e) => {
                crate::metrics::upload_outcome("error");
                return Err(e.into());
            }
        };
        crate::metrics::upload_outcome("ok");
        crate::metrics::bytes_uploaded(committed.size_bytes);
        Ok(committed)
    }

    /// The checks before a byte is read, in the reference's order and then ours: scope, the
    /// record's state, draining, the claim, the deadline, the body's type and room on disk.
    /// Returns the reservation and the claim that holds it for this PUT.
    fn admit(&self, principal: &Principal, id: AttachmentId, info: &BodyInfo) -> Result<(Attachment, UploadClaim)> {
        principal.require(EVENTS_WRITE)?;
        self.rate_limit(principal)?;
        let (app_id, key) = principal.app_scope()?;
        let rec = self.catalog.record(id)?.ok_or(ServiceError::AttachmentNotFound)?;
        // A file asked for through a signed URL takes its bytes there, never here.
        if rec.parent(crate::model::ParentKind::EndUser).is_some() {
            return Err(ServiceError::AttachmentNotFound);
        }
        if rec.app_id != Some(app_id) {
            // The reference's 403 within the key's own team; another team's attachment does
            // not exist for this caller (404), so its existence never leaks across teams.
            let same_team =
                self.control.project(&*self.catalog, &rec.project_id)?.is_some_and(|p| p.team_id == key.team_id);
            return Err(if same_team { ServiceError::WrongApp } else { ServiceError::AttachmentNotFound });
        }
        if rec.deleted_at.is_some() {
            return Err(ServiceError::AttachmentDeleted);
        }
        if rec.uploaded_at.is_some() {
            return Err(ServiceError::AlreadyUploaded);
        }
        self.refuse_if_draining()?;
        // Claim first, then check the deadline: the reservation sweeper skips claimed ids, so
        // a PUT that passes this check can no longer be swept from under it.
        let claim = self.uploads.claim(id).ok_or(ServiceError::UploadInProgress)?;
        if Timestamp::now() > rec.expires_at {
            return Err(ServiceError::ReservationExpired);
        }
        let base_type = info.content_type.as_deref().map(crate::model::mime::essence);
        match base_type.as_deref() {
            Some("application/octet-stream") => {}
            // The reference parsed these and then refused them with 400; anything else was 415.
            Some("application/json") | Some("text/plain") => return Err(ServiceError::NotOctetStream { parsed: true }),
            _ => return Err(ServiceError::NotOctetStream { parsed: false }),
        }
        // Refuse what would fill the disk before writing a byte (retryable: 507 + Retry-After).
        if !self.blobs.has_room_for(rec.size_bytes) {
            tracing::warn!(size = rec.size_bytes, "refusing an upload: the store is nearly full");
            return Err(ServiceError::NoSpace);
        }
        Ok((rec, claim))
    }

    /// Streams the body into a sink of the blob store, counting it, and checks what the sink
    /// measured against the reservation.
    async fn receive<B: BodySource>(&self, rec: &Attachment, body: &mut B) -> Result<Staged> {
        let mut sink = self.blobs.stage(rec, BodyPlan::exactly(rec.size_bytes)).await?;
        if let Err(e) = feed(rec, body, sink.as_mut()).await {
            // An abort, an overflow or the writer's failure: the sink's bytes are gone before
            // the client hears about it.
            sink.abort().await;
            return Err(e);
        }
        let staged = sink.finish().await?;
        verify(rec, &staged.measured)?;
        Ok(staged)
    }

    /// A size or hash mismatch: discard the reservation (quota released), report `e`.
    async fn fail_mismatch<T>(&self, rec: &Attachment, e: ServiceError) -> Result<T> {
        crate::metrics::upload_outcome(match e {
            ServiceError::HashMismatch => "hash_mismatch",
            _ => "size_mismatch",
        });
        self.discard_reservation(rec.id).await?;
        Err(e)
    }
}

async fn next<B: BodySource>(body: &mut B) -> Result<Option<Bytes>> {
    body.next_chunk().await.map_err(ServiceError::from)
}

/// Copies the body into `sink`, refusing the first byte past the declared size.
async fn feed<B: BodySource>(rec: &Attachment, body: &mut B, sink: &mut dyn BlobSink) -> Result<()> {
    let mut got = 0u64;
    while let Some(chunk) = next(body).await? {
        got += chunk.len() as u64;
        if got > rec.size_bytes {
            return Err(ServiceError::SizeExceeded);
        }
        sink.write(chunk).await?;
    }
    Ok(())
}

fn verify(rec: &Attachment, measured: &Measured) -> Result<()> {
    if measured.len != rec.size_bytes {
        return Err(ServiceError::SizeShort { got: measured.len, declared: rec.size_bytes });
    }
    if measured.sha256 != rec.digests.sha256 {
        return Err(ServiceError::HashMismatch);
    }
    Ok(())
}
