//! [`LocalBlobs`]: the [`BlobStore`] of the local backend — segment files for bodies up to
//! `standalone_threshold`, one standalone file per larger body, and the group committer that
//! makes them durable and records them in the RocksDB index.
//!
//! Write path (see `sink.rs` for receiving and `commit.rs` for the batch): a standalone file is
//! fdatasynced, renamed into place and its directory fsynced before its commit job is queued;
//! a segment body is appended and fdatasynced by the committer with the rest of its batch;
//! then one synced index batch records every upload of the batch. Read path: segment records
//! are read whole and CRC-checked; standalone files are streamed (checked on a full read) or
//! handed to nginx by X-Accel-Redirect when a prefix is configured. A segment record read
//! after compaction moved it (and removed its old segment) is looked up again and read at its
//! new place.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::clock::Timestamp;
use crate::engine::{
    Access, BlobError, BlobResult, BlobSink, BlobStore, BodyPlan, BodySize, BoxFuture, Commit, Hold, Opened, RangeRead,
    Verify,
};
use crate::ids::{AttachmentId, SegmentId};
use crate::index::Index;
use crate::index::prelude::*;
use crate::model::{Attachment, Digests, Location};
use crate::store::{BlobReader, Store, StoreError, StoredBlob};

use super::commit::{Committer, Payload, Upload};
use super::sink::{FileSink, STREAM_BUFFERED, SegmentSink, SpillSink, StagedBody};

/// The local blob store's settings.
#[derive(Debug, Clone)]
pub struct LocalBlobConfig {
    /// The data directory (its volume's free space is checked before an upload).
    pub data_dir: PathBuf,
    /// Largest body stored in a segment.
    pub standalone_threshold: u64,
    /// Free space an upload must leave on the data volume.
    pub min_free_bytes: u64,
    /// X-Accel-Redirect internal location prefix (empty: bytes are served by attachd).
    pub x_accel_prefix: String,
}

/// Segment and standalone files, and the group committer.
pub struct LocalBlobs {
    cfg: LocalBlobConfig,
    index: Arc<Index>,
    store: Arc<Store>,
    committer: Arc<Committer>,
}

impl LocalBlobs {
    /// The blob store over `store`, committing through `committer` into `index`.
    pub fn new(cfg: LocalBlobConfig, index: Arc<Index>, store: Arc<Store>, committer: Arc<Committer>) -> Self {
        Self { cfg, index, store, committer }
    }

    fn is_small(&self, size: u64) -> bool {
        size <= self.cfg.standalone_threshold
    }
}

impl BlobStore for LocalBlobs {
    fn buffered(&self, size: BodySize) -> u64 {
        match size {
            BodySize::Exactly(n) | BodySize::AtMost(n) if self.is_small(n) => n,
            BodySize::Exactly(_) => STREAM_BUFFERED,
            // In memory up to the threshold, then streamed (the memory is handed to the writer).
            BodySize::AtMost(_) => self.cfg.standalone_threshold + STREAM_BUFFERED,
        }
    }

    fn has_room_for(&self, size: u64) -> bool {
        crate::store::free_bytes(&self.cfg.data_dir) >= size.saturating_add(self.cfg.min_free_bytes)
    }

    fn stage<'a>(&'a self, rec: &'a Attachment, plan: BodyPlan) -> BoxFuture<'a, BlobResult<Box<dyn BlobSink>>> {
        Box::pin(async move {
            let target = StoredBlob { project: rec.project_id, month: Timestamp::now().year_month(), id: rec.id };
            let declared = match plan.size {
                BodySize::Exactly(n) if self.is_small(n) => {
                    return Ok(Box::new(SegmentSink::new(rec.id, n, plan.md5)) as Box<dyn BlobSink>);
                }
                BodySize::Exactly(n) => n,
                BodySize::AtMost(n) => {
                    let (store, threshold) = (self.store.clone(), self.cfg.standalone_threshold);
                    return Ok(Box::new(SpillSink::new(store, target, threshold, n, plan.md5)) as Box<dyn BlobSink>);
                }
            };
            let store = self.store.clone();
            let writer = tokio::task::spawn_blocking(move || store.blobs.create(target, declared))
                .await
                .map_err(|e| BlobError::Backend(format!("blob writer task: {e}")))??;
            Ok(Box::new(FileSink::start(writer, plan.md5)) as Box<dyn BlobSink>)
        })
    }

    fn commit_upload(&self, commit: Commit, hold: Hold) -> BoxFuture<'static, BlobResult<Attachment>> {
        let committer = self.committer.clone();
        Box::pin(async move {
            let Commit { staged, rec, now, replaces, settle } = commit;
            let m = staged.measured;
            let settle = settle.then_some((m.len, Digests { sha256: m.sha256, md5: m.md5 }));
            let body = staged
                .inner
                .downcast::<StagedBody>()
                .map_err(|_| BlobError::Backend("a body staged by another blob store".into()))?;
            let payload = match *body {
                StagedBody::Segment(item) => Payload::Segment(item),
                // Durable at its final path before the job is queued. The committer removes a
                // file it refuses; after an index write error the file stays (the write may
                // yet be durable) and the orphan sweep decides.
                StagedBody::File(writer, crc) => {
                    let stored = tokio::task::spawn_blocking(move || writer.commit())
                        .await
                        .map_err(|e| BlobError::Backend(format!("blob commit task: {e}")))??;
                    Payload::Standalone(stored, crc)
                }
            };
            committer.commit_upload(Upload { rec, payload, now, replaces, settle }, hold).await
        })
    }

    fn open<'a>(&'a self, rec: &'a Attachment, access: Access) -> BoxFuture<'a, BlobResult<Opened>> {
        Box::pin(async move {
            let location = rec.location.ok_or(BlobError::RecordGone)?;
            let id = rec.id;
            Ok(match location {
                _ if access == Access::Head => Opened::Head,
                Location::Standalone { month, .. } if access == Access::Body && !self.cfg.x_accel_prefix.is_empty() => {
                    let blob = StoredBlob { project: rec.project_id, month, id };
                    Opened::Redirect(format!("{}/{}", self.cfg.x_accel_prefix.trim_end_matches('/'), blob.rel_path()))
                }
                Location::Standalone { month, crc32c } => {
                    let blob = StoredBlob { project: rec.project_id, month, id };
                    let store = self.store.clone();
                    let reader = tokio::task::spawn_blocking(move || store.blobs.open_blob(&blob))
                        .await
                        .map_err(|e| BlobError::Backend(format!("open task: {e}")))??;
                    if reader.len() != rec.size_bytes {
                        let what = format!("blob {id} is {} bytes, expected {}", reader.len(), rec.size_bytes);
                        return Err(BlobError::Corrupt(what));
                    }
                    let verify = match crc32c {
                        Some(c) => Verify::Crc32c(c),
                        None => Verify::Sha256(rec.digests.sha256),
                    };
                    Opened::Stream(Box::new(reader), verify)
                }
                Location::Segment { segment, offset } => {
                    let (store, index, len) = (self.store.clone(), self.index.clone(), rec.size_bytes);
                    Opened::Whole(Box::new(move || read_segment_record(&store, &index, id, (segment, offset), len)))
                }
            })
        })
    }

    fn remove(&self, rec: &Attachment) -> BlobResult<u64> {
        match rec.location {
            Some(Location::Standalone { month, .. }) => {
                self.store.blobs.remove(&StoredBlob { project: rec.project_id, month, id: rec.id })?;
                Ok(rec.size_bytes)
            }
            // Segment bytes are freed when compaction rewrites the segment.
            _ => Ok(0),
        }
    }
}

/// Reads a record's verified payload. If compaction moved the record and removed its old
/// segment between the caller's index read and this read, the record is looked up again.
fn read_segment_record(
    store: &Store,
    index: &Index,
    id: AttachmentId,
    (segment, offset): (SegmentId, u64),
    len: u64,
) -> BlobResult<Bytes> {
    match store.segments.read(segment, offset, id, len) {
        Ok(b) => Ok(b),
        Err(StoreError::NotFound(what)) => match index.record(id)?.and_then(|r| r.location) {
            Some(Location::Segment { segment: s2, offset: o2 }) if (s2, o2) != (segment, offset) => {
                Ok(store.segments.read(s2, o2, id, len)?)
            }
            // Still pointed at: the bytes are gone (a segment moved aside by recovery).
            // That is data loss on our side, never a client's 404.
            Some(_) => {
                tracing::error!(attachment = %id, %what, "the segment holding this record is missing");
                Err(BlobError::Missing(format!("stored bytes of {id} are missing: {what}")))
            }
            None => Err(BlobError::RecordGone),
        },
        Err(e) => {
            tracing::error!(attachment = %id, error = %e, "refusing to serve a damaged record");
            Err(e.into())
        }
    }
}

impl RangeRead for BlobReader {
    fn len(&self) -> u64 {
        BlobReader::len(self)
    }

    fn read_at(&self, offset: u64, max: usize) -> BlobResult<Bytes> {
        Ok(BlobReader::read_at(self, offset, max)?)
    }
}
