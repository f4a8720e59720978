//! Receiving an upload's body on the local backend: the two [`BlobSink`]s.
//!
//! * A body up to `standalone_threshold` bytes is copied as it arrives into one buffer of the
//!   declared size (hashed and CRC'd as it comes; never one buffer per received chunk, which
//!   costs ~30× the payload for a body sent in 1-byte chunks). Committing it appends it to
//!   the active segment in the next group commit.
//! * A larger body is written as it arrives to a preallocated temporary file
//!   (`store::blob`) by a blocking writer that also hashes, so hashing runs beside receiving.
//!   Chunks are copied into batches of [`BLOB_WRITE_BATCH`] bytes (not kept as received: each
//!   would pin its part of hyper's read buffer, whatever its size); with two batches queued
//!   and one being written, a body holds at most [`STREAM_BUFFERED`] bytes. Committing it
//!   syncs and renames the file into place, then records it through the group commit.
//! * A body whose size is unknown up front ([`SpillSink`]) starts in memory like a small
//!   one and moves to a temporary file, as a large one, the moment it passes the threshold;
//!   whichever it ends as decides where it is stored.
//! MD5 is computed beside SHA-256 and CRC-32C when the plan asks for it.
//! Nothing partial is ever visible: a sink or staged body dropped before its commit drops
//! the writer, whose guard removes the temporary file (after a crash, the orphan sweep does).

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use std::sync::Arc;

use md5::{Digest as _, Md5};

use crate::engine::{BlobError, BlobResult, BlobSink, BoxFuture, Measured, Staged};
use crate::ids::{AttachmentId, Sha256Digest};
use crate::model::Md5Digest;
use crate::store::{AppendItem, BlobWriter, Store, StoreError, StoredBlob};

/// Bytes batched per write when streaming a standalone blob.
pub const BLOB_WRITE_BATCH: usize = 256 << 10;
/// What a standalone upload holds at most: the batch being filled, two batches queued for the
/// writer and the one it is writing (each filled to exactly its capacity), plus the received
/// chunk being copied. 64 concurrent 64 MiB uploads stay far below 256 MiB.
pub const STREAM_BUFFERED: u64 = 4 * BLOB_WRITE_BATCH as u64 + (64 << 10);

/// A staged body of the local backend, as [`Staged::inner`] carries it.
pub(super) enum StagedBody {
    /// Bytes for a segment, in memory.
    Segment(AppendItem),
    /// A written (not yet synced) temporary file, with its CRC-32C.
    File(BlobWriter, u32),
}

/// SHA-256, CRC-32C and (if asked) MD5 of a body, updated together.
struct Hashes {
    sha: Sha256,
    crc: u32,
    md5: Option<Md5>,
}

impl Hashes {
    fn new(md5: bool) -> Self {
        Self { sha: Sha256::new(), crc: 0, md5: md5.then(Md5::new) }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        if let Some(m) = &mut self.md5 {
            m.update(bytes);
        }
    }

    /// The measurements of `len` bytes, and the CRC-32C.
    fn finish(self, len: u64) -> (Measured, u32) {
        let md5 = self.md5.map(|m| Md5Digest(m.finalize().into()));
        (Measured { len, sha256: Sha256Digest(self.sha.finalize().into()), md5 }, self.crc)
    }
}

/// A small body, buffered whole.
pub(super) struct SegmentSink {
    id: AttachmentId,
    buf: BytesMut,
    hashes: Hashes,
}

impl SegmentSink {
    /// A sink for a body of up to `capacity` bytes (allocated up front).
    pub(super) fn new(id: AttachmentId, capacity: u64, md5: bool) -> Self {
        Self { id, buf: BytesMut::with_capacity(capacity as usize), hashes: Hashes::new(md5) }
    }

    fn staged(self) -> Staged {
        let Self { id, buf, hashes } = self;
        let (measured, crc) = hashes.finish(buf.len() as u64);
        let item = AppendItem { id, sha256: measured.sha256, crc, payload: vec![buf.freeze()] };
        Staged { measured, inner: Box::new(StagedBody::Segment(item)) }
    }
}

impl BlobSink for SegmentSink {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, BlobResult<()>> {
        self.hashes.update(&chunk);
        self.buf.extend_from_slice(&chunk);
        Box::pin(std::future::ready(Ok(())))
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, BlobResult<Staged>> {
        Box::pin(std::future::ready(Ok(self.staged())))
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

type Written = Result<(BlobWriter, Hashes), StoreError>;

/// A large body, streamed to a temporary file by a blocking writer.
pub(super) struct FileSink {
    tx: Option<mpsc::Sender<Bytes>>,
    writer: Option<JoinHandle<Written>>,
    pending: BytesMut,
    got: u64,
}

impl FileSink {
    /// Starts the writer thread for `writer`.
    pub(super) fn start(writer: BlobWriter, md5: bool) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(2);
        let task = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let mut hashes = Hashes::new(md5);
            while let Some(batch) = rx.blocking_recv() {
                hashes.update(&batch);
                writer.write(vec![batch])?;
            }
            Ok((writer, hashes))
        });
        Self { tx: Some(tx), writer: Some(task), pending: BytesMut::with_capacity(BLOB_WRITE_BATCH), got: 0 }
    }

    /// The writer's outcome (it has stopped, or is told to by dropping the channel).
    async fn join(&mut self) -> BlobResult<(BlobWriter, Hashes)> {
        self.tx.take();
        let task = self.writer.take().ok_or_else(|| BlobError::Backend("the blob writer already stopped".into()))?;
        let written = task.await.map_err(|e| BlobError::Backend(format!("blob writer task: {e}")))?;
        Ok(written?)
    }

    async fn send(&mut self, batch: Bytes) -> BlobResult<()> {
        let sent = match &self.tx {
            Some(tx) => tx.send(batch).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped early: its error is the reason.
        self.join().await?;
        Err(BlobError::Backend("the blob writer stopped".into()))
    }
}

impl BlobSink for FileSink {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, BlobResult<()>> {
        Box::pin(async move {
            self.got += chunk.len() as u64;
            // Fill each batch exactly (never past its capacity, which would reallocate it at
            // twice the size the upload budget charged for).
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let take = (BLOB_WRITE_BATCH - self.pending.len()).min(rest.len());
                self.pending.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if self.pending.len() == BLOB_WRITE_BATCH {
                    let full = std::mem::replace(&mut self.pending, BytesMut::with_capacity(BLOB_WRITE_BATCH));
                    self.send(full.freeze()).await?;
                }
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, BlobResult<Staged>> {
        Box::pin(async move {
            if !self.pending.is_empty() {
                let last = std::mem::take(&mut self.pending);
                self.send(last.freeze()).await?;
            }
            let (writer, hashes) = self.join().await?;
            let (measured, crc) = hashes.finish(self.got);
            Ok(Staged { measured, inner: Box::new(StagedBody::File(writer, crc)) })
        })
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        // The writer stops at the closed channel; dropping it removes the temporary file.
        Box::pin(async move { drop(self.join().await) })
    }
}

/// A body of unknown size: in memory up to `threshold` bytes, then a temporary file.
pub(super) struct SpillSink {
    memory: Option<SegmentSink>,
    file: Option<Box<FileSink>>,
    threshold: u64,
    store: Arc<Store>,
    target: StoredBlob,
    /// What the file is preallocated to when the body spills (its bound).
    bound: u64,
    md5: bool,
}

impl SpillSink {
    /// A sink for a body of at most `bound` bytes, stored at `target` if it spills.
    pub(super) fn new(store: Arc<Store>, target: StoredBlob, threshold: u64, bound: u64, md5: bool) -> Self {
        let memory = SegmentSink::new(target.id, bound.min(threshold), md5);
        Self { memory: Some(memory), file: None, threshold, store, target, bound, md5 }
    }

    /// Moves what is in memory to a new temporary file, which takes the rest.
    async fn spill(&mut self) -> BlobResult<()> {
        let (store, target, bound) = (self.store.clone(), self.target, self.bound);
        let writer = tokio::task::spawn_blocking(move || store.blobs.create(target, bound))
            .await
            .map_err(|e| BlobError::Backend(format!("blob writer task: {e}")))??;
        let mut file = Box::new(FileSink::start(writer, self.md5));
        if let Some(mem) = self.memory.take() {
            file.write(mem.buf.freeze()).await?;
        }
        self.file = Some(file);
        Ok(())
    }
}

impl BlobSink for SpillSink {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, BlobResult<()>> {
        Box::pin(async move {
            if let Some(mem) = &mut self.memory {
                if (mem.buf.len() + chunk.len()) as u64 <= self.threshold {
                    return mem.write(chunk).await;
                }
                self.spill().await?;
            }
            match &mut self.file {
                Some(f) => f.write(chunk).await,
                None => Err(BlobError::Backend("spill sink has neither memory nor file".into())),
            }
        })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, BlobResult<Staged>> {
        let Self { memory, file, .. } = *self;
        match (memory, file) {
            (Some(mem), _) => Box::new(mem).finish(),
            (None, Some(file)) => file.finish(),
            (None, None) => Box::pin(std::future::ready(Err(BlobError::Backend("spill sink is empty".into())))),
        }
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        match self.file {
            Some(file) => file.abort(),
            None => Box::pin(std::future::ready(())),
        }
    }
}

impl From<StoreError> for BlobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSpace { .. } => Self::NoSpace,
            StoreError::Corrupt(what) => Self::Corrupt(what),
            StoreError::NotFound(what) => Self::Missing(what),
            other => Self::Backend(other.to_string()),
        }
    }
}

impl From<crate::index::IndexError> for BlobError {
    fn from(e: crate::index::IndexError) -> Self {
        Self::Backend(format!("index: {e}"))
    }
}
