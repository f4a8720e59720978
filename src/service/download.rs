//! `GET /v1/attachments/:id` (with a signed URL) and `GET /v1/attachments/download?t=` (bytes).
//!
//! Every download re-reads the record, so a soft-deleted or reclaimed attachment is refused
//! even with a valid token. Bytes are never served unverified: segment records are checked
//! against their CRC-32C before the first byte is sent; standalone files are hashed as they
//! stream and, on a mismatch, the stream ends with an error so the client sees a broken
//! transfer instead of wrong bytes. With an X-Accel prefix configured, standalone files are
//! handed to nginx instead (small attachments live inside segments and are served here).

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, SegmentId, Sha256Digest};
use crate::index::prelude::*;
use crate::index::{AttachmentRecord, Location};
use crate::store::{BlobReader, StoreError, StoredBlob};

use super::auth::EVENTS_READ;
use super::views::{AttachmentDetail, AttachmentSummary, DownloadUrl};
use super::{Principal, Result, Service, ServiceError};

/// Everything but RFC 3986 unreserved characters is percent-encoded in the token parameter.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Bytes read per step when streaming a standalone file.
const STREAM_CHUNK: usize = 1 << 20;

/// Where a download's bytes come from.
pub enum DownloadSource {
    /// Already read and verified (segment records).
    Memory(Bytes),
    /// A standalone file to stream, and how to check it.
    File(BlobReader, Verify),
    /// Let nginx serve this internal URI.
    XAccel(String),
    /// HEAD: no bytes needed.
    None,
}

/// A download ready to send.
pub struct Download {
    /// The record being served.
    pub record: AttachmentRecord,
    /// Its bytes.
    pub source: DownloadSource,
}

impl Service {
    /// A fresh signed download URL for an uploaded record, and its expiry.
    pub fn download_url(&self, rec: &AttachmentRecord) -> (String, Timestamp) {
        let expires = Timestamp::now().plus(self.cfg.download_ttl);
        // Truncate to whole seconds: the token carries seconds.
        let expires = Timestamp(expires.as_secs() * 1_000_000);
        let token = self.signer.sign(rec.id, expires.as_secs());
        let url = format!(
            "{}/v1/attachments/download?t={}",
            self.cfg.public_url,
            percent_encoding::utf8_percent_encode(&token, QUERY_VALUE)
        );
        (url, expires)
    }

    /// The single GET: the record (if the caller can see it) and, once uploaded, a signed URL.
    pub fn get_attachment(&self, principal: &Principal, id: AttachmentId) -> Result<AttachmentDetail> {
        principal.require(EVENTS_READ)?;
        let rec = self.visible_record(principal, id)?;
        let download_url = rec.uploaded_at.map(|_| {
            let (url, expires) = self.download_url(&rec);
            DownloadUrl {
                url,
                expires_at: expires.to_iso(),
                original_filename: rec.original_filename.clone(),
                content_type: rec.content_type.clone(),
                size_bytes: rec.size_bytes,
            }
        });
        Ok(AttachmentDetail { summary: AttachmentSummary::from(&rec), download_url })
    }

    /// A live record the caller may see, or `AttachmentNotFound`.
    pub fn visible_record(&self, principal: &Principal, id: AttachmentId) -> Result<AttachmentRecord> {
        let rec = self.index.record(id)?.filter(|r| r.deleted_at.is_none()).ok_or(ServiceError::AttachmentNotFound)?;
        let project = self.control.project(&self.index, &rec.project_id)?.filter(|p| p.deleted_at.is_none());
        match project {
            Some(p) if principal.can_see(p.team_id, rec.app_id) => Ok(rec),
            _ => Err(ServiceError::AttachmentNotFound),
        }
    }

    /// Checks a download token and opens the bytes (`head`: metadata only).
    pub async fn open_download(&self, token: Option<&str>, head: bool) -> Result<Download> {
        let token = token.filter(|t| !t.is_empty()).ok_or(ServiceError::MissingDownloadToken)?;
        let id =
            self.signer.verify(token, Timestamp::now().as_secs()).map_err(|_| ServiceError::InvalidDownloadToken)?;
        let rec = self
            .index
            .record(id)?
            .filter(|r| r.deleted_at.is_none() && r.uploaded_at.is_some())
            .ok_or(ServiceError::AttachmentNotFound)?;
        let location = rec.location.ok_or(ServiceError::AttachmentNotFound)?;
        let source = match location {
            _ if head => DownloadSource::None,
            Location::Standalone { month, .. } if !self.cfg.x_accel_prefix.is_empty() => {
                let blob = StoredBlob { project: rec.project_id, month, id };
                DownloadSource::XAccel(format!("{}/{}", self.cfg.x_accel_prefix.trim_end_matches('/'), blob.rel_path()))
            }
            Location::Standalone { month, crc32c } => {
                let blob = StoredBlob { project: rec.project_id, month, id };
                let store = self.store.clone();
                let reader = tokio::task::spawn_blocking(move || store.blobs.open_blob(&blob))
                    .await
                    .map_err(|e| ServiceError::Internal(format!("open task: {e}")))??;
                if reader.len() != rec.size_bytes {
                    return Err(ServiceError::Corrupt(format!(
                        "blob {id} is {} bytes, expected {}",
                        reader.len(),
                        rec.size_bytes
                    )));
                }
                let verify = match crc32c {
                    Some(c) => Verify::Crc32c(c),
                    None => Verify::Sha256(rec.sha256),
                };
                DownloadSource::File(reader, verify)
            }
            Location::Segment { segment, offset } => {
                let svc = self.me();
                let len = rec.size_bytes;
                let bytes = tokio::task::spawn_blocking(move || svc.read_segment_record(id, segment, offset, len))
                    .await
                    .map_err(|e| ServiceError::Internal(format!("read task: {e}")))??;
                DownloadSource::Memory(bytes)
            }
        };
        Ok(Download { record: rec, source })
    }
}

impl Service {
    /// Reads a record's verified payload. If compaction moved the record and removed its old
    /// segment between the caller's index read and this read, the record is looked up again.
    fn read_segment_record(&self, id: AttachmentId, segment: SegmentId, offset: u64, len: u64) -> Result<Bytes> {
        match self.store.segments.read(segment, offset, id, len) {
            Ok(b) => Ok(b),
            Err(StoreError::NotFound(what)) => match self.index.record(id)?.and_then(|r| r.location) {
                Some(Location::Segment { segment: s2, offset: o2 }) if (s2, o2) != (segment, offset) => {
                    Ok(self.store.segments.read(s2, o2, id, len)?)
                }
                // Still pointed at: the bytes are gone (a segment moved aside by recovery).
                // That is data loss on our side, never a client's 404.
                Some(_) => {
                    tracing::error!(attachment = %id, %what, "the segment holding this record is missing");
                    Err(ServiceError::ReadFailed(format!("stored bytes of {id} are missing: {what}")))
                }
                None => Err(ServiceError::AttachmentNotFound),
            },
            Err(e) => {
                tracing::error!(attachment = %id, error = %e, "refusing to serve a damaged record");
                Err(e.into())
            }
        }
    }
}

/// How a full read of a standalone file is checked.
#[derive(Debug, Clone, Copy)]
pub enum Verify {
    /// Against the CRC-32C recorded at upload (fast: ~20 GB/s).
    Crc32c(u32),
    /// Against the SHA-256 (files uploaded before CRCs were recorded).
    Sha256(Sha256Digest),
}

/// Streams `reader[start..end)` as chunks. When the whole file is sent, it is checked on the
/// way, and a mismatch ends the stream with an error instead of the last chunk, so the client
/// sees a broken transfer rather than wrong bytes.
pub fn stream_file(reader: BlobReader, start: u64, end: u64, verify: Verify) -> mpsc::Receiver<Result<Bytes>> {
    let (tx, rx) = mpsc::channel(4);
    let whole = start == 0 && end == reader.len();
    tokio::task::spawn_blocking(move || {
        let mut sha = (whole && matches!(verify, Verify::Sha256(_))).then(Sha256::new);
        let mut crc = 0u32;
        let mut at = start;
        while at < end {
            let want = ((end - at) as usize).min(STREAM_CHUNK);
            let chunk = match reader.read_at(at, want) {
                Ok(c) if !c.is_empty() => c,
                Ok(_) => {
                    let _ = tx.blocking_send(Err(ServiceError::Corrupt("blob is shorter than its record".into())));
                    return;
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            at += chunk.len() as u64;
            if whole {
                let ok = match (verify, sha.as_mut()) {
                    (Verify::Sha256(expect), Some(h)) => {
                        h.update(&chunk);
                        at < end || Sha256Digest(h.clone().finalize().into()) == expect
                    }
                    (Verify::Crc32c(expect), _) => {
                        crc = crc32c::crc32c_append(crc, &chunk);
                        at < end || crc == expect
                    }
                    (Verify::Sha256(_), None) => true,
                };
                if !ok {
                    tracing::error!("standalone blob failed its checksum while streaming; aborting the response");
                    let _ = tx.blocking_send(Err(ServiceError::Corrupt("blob checksum mismatch".into())));
                    return;
                }
            }
            crate::metrics::bytes_downloaded(chunk.len() as u64);
            if tx.blocking_send(Ok(chunk)).is_err() {
                return; // the client went away
            }
        }
    });
    rx
}
