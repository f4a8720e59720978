//! Reading one attachment: its record for a caller who may see it, a signed download token
//! for it, and its bytes for a valid token (a front end puts the token in its download URL).
//!
//! Every download re-reads the record, so a soft-deleted or reclaimed attachment is refused
//! even with a valid token. Bytes are never served unverified: segment records are checked
//! against their CRC-32C before the first byte is sent; standalone files are hashed as they
//! stream and, on a mismatch, the stream ends with an error so the client sees a broken
//! transfer instead of wrong bytes. With an X-Accel prefix configured, standalone files are
//! handed to nginx instead (small attachments live inside segments and are served here).

use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::clock::Timestamp;
use crate::engine::{Access, BlobError, Opened, RangeRead, Verify};
use crate::ids::{AttachmentId, Sha256Digest};
use crate::model::Attachment;

use super::auth::EVENTS_READ;
use super::budget::{MemoryBudget, MemoryPermit, charged};
use super::{Principal, Result, Service, ServiceError};

/// Bytes read per step when streaming a standalone file.
pub const STREAM_CHUNK: usize = 256 << 10;

/// Where a download's bytes come from.
pub enum DownloadSource {
    /// Already read and verified (segment records), charged to the download budget.
    Memory(Bytes),
    /// A standalone file to stream.
    File(FileStream),
    /// Let nginx serve this internal URI.
    XAccel(String),
    /// Send the client to this URL (302): the object store serves the bytes.
    Elsewhere(String),
    /// HEAD: no bytes needed.
    None,
}

/// A download ready to send.
pub struct Download {
    /// The record being served.
    pub record: Attachment,
    /// Its bytes.
    pub source: DownloadSource,
}

impl Service {
    /// A fresh signed download token for an uploaded record, and its expiry (whole seconds:
    /// the token carries seconds).
    pub fn download_token(&self, rec: &Attachment) -> (String, Timestamp) {
        self.download_token_for(rec, self.cfg.download_ttl)
    }

    /// As [`Service::download_token`], valid for `ttl` (an API's own lifetime).
    pub fn download_token_for(&self, rec: &Attachment, ttl: std::time::Duration) -> (String, Timestamp) {
        let expires = Timestamp::now().plus(ttl);
        let expires = Timestamp(expires.as_secs() * 1_000_000);
        (self.signer.sign(rec.id, expires.as_secs()), expires)
    }

    /// One attachment's record, if the caller may read it and can see it.
    pub fn get_attachment(&self, principal: &Principal, id: AttachmentId) -> Result<Attachment> {
        principal.require(EVENTS_READ)?;
        self.visible_record(principal, id)
    }

    /// A live record the caller may see, or `AttachmentNotFound`.
    pub fn visible_record(&self, principal: &Principal, id: AttachmentId) -> Result<Attachment> {
        let rec =
            self.catalog.record(id)?.filter(|r| r.deleted_at.is_none()).ok_or(ServiceError::AttachmentNotFound)?;
        let project = self.control.project(&*self.catalog, &rec.project_id)?.filter(|p| p.deleted_at.is_none());
        match project {
            Some(p) if principal.can_see_app(p.team_id, rec.app_id) => Ok(rec),
            _ => Err(ServiceError::AttachmentNotFound),
        }
    }

    /// Checks a download token and opens the bytes (`head`: metadata only).
    pub async fn open_download(&self, token: Option<&str>, head: bool) -> Result<Download> {
        let token = token.filter(|t| !t.is_empty()).ok_or(ServiceError::MissingDownloadToken)?;
        let id =
            self.signer.verify(token, Timestamp::now().as_secs()).map_err(|_| ServiceError::InvalidDownloadToken)?;
        let rec = self
            .catalog
            .record(id)?
            .filter(|r| r.deleted_at.is_none() && r.uploaded_at.is_some())
            .ok_or(ServiceError::AttachmentNotFound)?;
        self.open_record(rec, head).await
    }

    /// Opens an uploaded record's bytes (`head`: metadata only), charging the download budget.
    /// A file waiting for its scan, infected or not scannable is refused here, for every API.
    pub(crate) async fn open_record(&self, rec: Attachment, head: bool) -> Result<Download> {
        super::scan::servable(&rec, self.scanner_health())?;
        let source = match self.blobs.open(&rec, if head { Access::Head } else { Access::Body }).await? {
            Opened::Head => DownloadSource::None,
            Opened::Redirect(path) => DownloadSource::XAccel(path),
            Opened::Elsewhere(url) => DownloadSource::Elsewhere(url),
            Opened::Stream(reader, verify) => {
                let first = self.download_budget.take_or_shed((STREAM_CHUNK as u64).min(rec.size_bytes))?;
                DownloadSource::File(FileStream { reader, verify, budget: self.download_budget.clone(), first })
            }
            Opened::Whole(read) => {
                let memory = self.download_budget.take_or_shed(rec.size_bytes)?;
                let bytes = tokio::task::spawn_blocking(read)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("read task: {e}")))??;
                DownloadSource::Memory(charged(bytes, memory))
            }
        };
        Ok(Download { record: rec, source })
    }
}

/// A standalone file to stream, with what bounds its memory.
pub struct FileStream {
    /// The open blob.
    pub reader: Box<dyn RangeRead>,
    /// How a whole read is checked.
    pub verify: Verify,
    /// The download budget each chunk is charged to.
    pub budget: MemoryBudget,
    /// The first chunk's bytes, taken when the download was opened (so a download that cannot
    /// get any is refused with 503 before its headers are sent).
    pub first: MemoryPermit,
}

/// Streams `reader[start..end)` as chunks of at most [`STREAM_CHUNK`] bytes through a channel
/// of one: a download holds at most three chunks (one being read, one queued, one being
/// written by hyper), each charged to the download budget until hyper has written it. When
/// the whole file is sent, it is checked on the way, and a mismatch ends the stream with an
/// error instead of the last chunk, so the client sees a broken transfer rather than wrong bytes.
pub fn stream_file(file: FileStream, start: u64, end: u64) -> mpsc::Receiver<Result<Bytes>> {
    let (tx, rx) = mpsc::channel(1);
    let whole = start == 0 && end == file.reader.len();
    let FileStream { reader, verify, budget, first } = file;
    tokio::spawn(async move {
        let reader = Arc::new(reader);
        let mut check = whole.then(|| Check::new(verify));
        let mut first = Some(first);
        let mut at = start;
        while at < end {
            let want = ((end - at) as usize).min(STREAM_CHUNK);
            let permit = match first.take() {
                Some(p) => p,
                None => budget.take(want as u64).await,
            };
            let r = reader.clone();
            let mut c = check.take();
            let read = tokio::task::spawn_blocking(move || {
                let chunk = r.read_at(at, want)?;
                let ok = c.as_mut().is_none_or(|c| c.update(&chunk, at + chunk.len() as u64 == end));
                Ok::<_, BlobError>((chunk, c, ok))
            })
            .await;
            let (chunk, c, ok) = match read {
                Ok(Ok((chunk, _, _))) if chunk.is_empty() => {
                    let _ = tx.send(Err(ServiceError::Corrupt("blob is shorter than its record".into()))).await;
                    return;
                }
                Ok(Ok(x)) => x,
                Ok(Err(e)) => {
                    let _ = tx.send(Err(ServiceError::from(e))).await;
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Err(ServiceError::Internal(format!("read task: {e}")))).await;
                    return;
                }
            };
            if !ok {
                tracing::error!("standalone blob failed its checksum while streaming; aborting the response");
                let _ = tx.send(Err(ServiceError::Corrupt("blob checksum mismatch".into()))).await;
                return;
            }
            check = c;
            at += chunk.len() as u64;
            crate::metrics::bytes_downloaded(chunk.len() as u64);
            if tx.send(Ok(charged(chunk, permit))).await.is_err() {
                return; // the client went away (or stopped reading and was timed out)
            }
        }
    });
    rx
}

/// The running check of a whole-file read.
enum Check {
    Crc32c { expect: u32, crc: u32 },
    Sha256 { expect: Sha256Digest, sha: Box<Sha256> },
}

impl Check {
    fn new(v: Verify) -> Self {
        match v {
            Verify::Crc32c(expect) => Self::Crc32c { expect, crc: 0 },
            Verify::Sha256(expect) => Self::Sha256 { expect, sha: Box::new(Sha256::new()) },
        }
    }

    /// Feeds a chunk; at the last one, whether the whole file matched.
    fn update(&mut self, chunk: &[u8], last: bool) -> bool {
        match self {
            Self::Crc32c { expect, crc } => {
                *crc = crc32c::crc32c_append(*crc, chunk);
                !last || *crc == *expect
            }
            Self::Sha256 { expect, sha } => {
                sha.update(chunk);
                !last || Sha256Digest(sha.clone().finalize().into()) == *expect
            }
        }
    }
}
