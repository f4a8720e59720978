//! `PUT /v1/ingest/attachment/:id`: stream, count, hash, verify, store, commit.
//!
//! Checks run in the reference's order (app scope, 404, 403 other app, 410 deleted, 409
//! uploaded), then ours: 410 for a lapsed reservation, 409 while another PUT holds the claim,
//! 415 for a body that is not `application/octet-stream`, and an early `size_mismatch` when
//! `Content-Length` disagrees with the reservation. The body is then streamed:
//! * up to `standalone_threshold` bytes: copied as they arrive into one buffer of the declared
//!   size (hashed and CRC'd as they come; never one buffer per received chunk, which costs ~30×
//!   the payload for a body sent in 1-byte chunks), then handed whole to the group committer
//!   (one segment write + sync shared with other uploads);
//! * larger: written as it arrives to a preallocated temporary file by a blocking writer that
//!   also hashes (so hashing runs beside receiving), then synced and renamed into place
//!   (`store::blob`) and committed to the index through the same committer.
//! Outcomes: a size or hash mismatch discards the reservation (quota released, the reference's
//! codes); a client that disconnects or stalls leaves the reservation pending, so the SDK's
//! retry succeeds. Before reading a byte, the upload takes its share of the upload memory
//! budget (`budget`), or is refused with a retryable 503; a small upload's share travels
//! with its commit job. Nothing partial is ever visible: a temporary file is removed by its writer's
//! drop guard, or by the orphan sweep after a crash; the upload claim travels with the commit
//! job, so a retry cannot start until the first attempt's commit has an outcome.

use std::future::Future;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, Sha256Digest};
use crate::model::Attachment;
use crate::store::{AppendItem, StoredBlob};

use super::auth::EVENTS_WRITE;
use super::budget::{LARGE_UPLOAD_CHARGE, UPLOAD_OVERHEAD};
use super::commit::Payload;
use super::views::Uploaded;
use super::{Principal, Result, Service, ServiceError, UploadClaim};

/// Why the body stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The client went away (or sent a malformed body).
    Aborted,
    /// The client paused longer than the idle timeout.
    TimedOut,
}

/// A request body, chunk by chunk (implemented by the HTTP layer).
pub trait BodySource: Send {
    /// The next chunk; `Ok(None)` at the end.
    fn next_chunk(&mut self) -> impl Future<Output = std::result::Result<Option<Bytes>, BodyError>> + Send;
}

/// Bytes batched per write when streaming a standalone blob. With the channel's two batches in
/// flight, one upload holds at most ~1 MiB (`budget::LARGE_UPLOAD_CHARGE`): 64 concurrent
/// 64 MiB uploads stay far below 256 MiB.
const BLOB_WRITE_BATCH: usize = 256 << 10;

/// What the caller told us about the body.
#[derive(Debug, Clone, Default)]
pub struct BodyInfo {
    /// `Content-Type`, if sent.
    pub content_type: Option<String>,
    /// `Content-Length`, if sent (absent for chunked bodies).
    pub content_length: Option<u64>,
}

impl Service {
    /// Runs one PUT. Failures on our side are reported as the reference's "Upload failed".
    pub async fn upload<B: BodySource>(
        &self,
        principal: &Principal,
        id: AttachmentId,
        info: BodyInfo,
        body: B,
    ) -> Result<Uploaded> {
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
    ) -> Result<Uploaded> {
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
        let small = rec.size_bytes <= self.cfg.standalone_threshold;
        let charge = if small { rec.size_bytes + UPLOAD_OVERHEAD } else { LARGE_UPLOAD_CHARGE };
        let memory = self.upload_budget.take_or_shed(charge)?;
        let stored =
            if small { self.receive_small(&rec, &mut body).await } else { self.receive_large(&rec, &mut body).await };
        let payload = match stored {
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
        // The committer removes a standalone file it refuses; after an index write error the
        // file stays (the write may yet be durable) and the orphan sweep decides.
        let committed = match self.committer.commit_upload(claim, payload, memory).await {
            Ok(r) => r,
            Err(e) => {
                crate::metrics::upload_outcome("error");
                return Err(e);
            }
        };
        crate::metrics::upload_outcome("ok");
        crate::metrics::bytes_uploaded(committed.size_bytes);
        let (url, expires) = self.download_url(&committed);
        Ok(Uploaded {
            uploaded: true,
            attachment_id: committed.id.to_string(),
            size_bytes: committed.size_bytes,
            sha256: committed.digests.sha256.to_hex(),
            download_url: url,
            download_url_expires_at: expires.to_iso(),
        })
    }

    /// The checks before a byte is read, in the reference's order and then ours: scope, the
    /// record's state, draining, the claim, the deadline, the body's type and room on disk.
    /// Returns the reservation and the claim that holds it for this PUT.
    fn admit(&self, principal: &Principal, id: AttachmentId, info: &BodyInfo) -> Result<(Attachment, UploadClaim)> {
        principal.require(EVENTS_WRITE)?;
        self.rate_limit(principal)?;
        let (app_id, key) = principal.app_scope()?;
        let rec = self.catalog.record(id)?.ok_or(ServiceError::AttachmentNotFound)?;
        if rec.app_id != Some(app_id) {
            // The reference's 403 within the key's own team; another team's attachment does
            // not exist for this caller (404), so its existence never leaks across teams.
            let same_team =
                self.control.project(&self.index, &rec.project_id)?.is_some_and(|p| p.team_id == key.team_id);
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
        let free = crate::store::free_bytes(&self.cfg.data_dir);
        if free < rec.size_bytes.saturating_add(self.cfg.min_free_bytes) {
            tracing::warn!(free, size = rec.size_bytes, "refusing an upload: the data volume is nearly full");
            return Err(ServiceError::NoSpace);
        }
        Ok((rec, claim))
    }

    /// Receives a small body into one buffer of the declared size, hashing as it comes.
    async fn receive_small<B: BodySource>(&self, rec: &Attachment, body: &mut B) -> Result<Payload> {
        let mut buf = BytesMut::with_capacity(rec.size_bytes as usize);
        let mut sha = Sha256::new();
        let mut crc = 0u32;
        while let Some(chunk) = next(body).await? {
            if (buf.len() + chunk.len()) as u64 > rec.size_bytes {
                return Err(ServiceError::SizeExceeded);
            }
            sha.update(&chunk);
            crc = crc32c::crc32c_append(crc, &chunk);
            buf.extend_from_slice(&chunk);
        }
        verify(rec, buf.len() as u64, sha)?;
        Ok(Payload::Segment(AppendItem { id: rec.id, sha256: rec.digests.sha256, crc, payload: vec![buf.freeze()] }))
    }

    /// Streams a large body to a standalone file; hashing happens on the writer thread.
    async fn receive_large<B: BodySource>(&self, rec: &Attachment, body: &mut B) -> Result<Payload> {
        let target = StoredBlob { project: rec.project_id, month: Timestamp::now().year_month(), id: rec.id };
        let store = self.store.clone();
        let declared = rec.size_bytes;
        let writer = tokio::task::spawn_blocking(move || store.blobs.create(target, declared))
            .await
            .map_err(|e| ServiceError::Internal(format!("blob writer task: {e}")))??;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(2);
        let writer_task = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let mut sha = Sha256::new();
            let mut crc = 0u32;
            while let Some(batch) = rx.blocking_recv() {
                for b in &batch {
                    sha.update(b);
                    crc = crc32c::crc32c_append(crc, b);
                }
                writer.write(batch)?;
            }
            Ok::<_, crate::store::StoreError>((writer, sha, crc))
        });
        let mut got = 0u64;
        // Chunks are copied into the batch (not kept as received: each would pin its part of
        // hyper's read buffer, whatever its size).
        let mut pending = BytesMut::with_capacity(BLOB_WRITE_BATCH);
        let received: Result<()> = async {
            'receive: while let Some(chunk) = next(body).await? {
                got += chunk.len() as u64;
                if got > declared {
                    return Err(ServiceError::SizeExceeded);
                }
                // Fill each batch exactly (never past its capacity, which would reallocate it
                // at twice the size the upload budget charged for).
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let take = (BLOB_WRITE_BATCH - pending.len()).min(rest.len());
                    pending.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if pending.len() == BLOB_WRITE_BATCH {
                        let full = std::mem::replace(&mut pending, BytesMut::with_capacity(BLOB_WRITE_BATCH));
                        if tx.send(vec![full.freeze()]).await.is_err() {
                            break 'receive; // the writer failed; its error is reported below
                        }
                    }
                }
            }
            if !pending.is_empty() {
                let _ = tx.send(vec![pending.freeze()]).await;
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = writer_task.await.map_err(|e| ServiceError::Internal(format!("blob writer task: {e}")))?;
        // A receive error (abort, overflow) wins over whatever the writer saw; dropping the
        // writer removes its temporary file.
        received?;
        let (writer, sha, crc) = written?;
        verify(rec, got, sha)?;
        let stored = tokio::task::spawn_blocking(move || writer.commit())
            .await
            .map_err(|e| ServiceError::Internal(format!("blob commit task: {e}")))??;
        Ok(Payload::Standalone(stored, crc))
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
    body.next_chunk().await.map_err(|e| match e {
        BodyError::Aborted => ServiceError::UploadAborted,
        BodyError::TimedOut => ServiceError::UploadTimedOut,
    })
}

fn verify(rec: &Attachment, got: u64, sha: Sha256) -> Result<()> {
    if got != rec.size_bytes {
        return Err(ServiceError::SizeShort { got, declared: rec.size_bytes });
    }
    if Sha256Digest(sha.finalize().into()) != rec.digests.sha256 {
        return Err(ServiceError::HashMismatch);
    }
    Ok(())
}
