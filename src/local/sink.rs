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
//! Nothing partial is ever visible: a sink or staged body dropped before its commit drops
//! the writer, whose guard removes the temporary file (after a crash, the orphan sweep does).

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::engine::{BlobError, BlobResult, BlobSink, BoxFuture, Measured, Staged};
use crate::ids::{AttachmentId, Sha256Digest};
use crate::store::{AppendItem, BlobWriter, StoreError};

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

/// A small body, buffered whole.
pub(super) struct SegmentSink {
    id: AttachmentId,
    buf: BytesMut,
    sha: Sha256,
    crc: u32,
}

impl SegmentSink {
    /// A sink for a body of `declared` bytes.
    pub(super) fn new(id: AttachmentId, declared: u64) -> Self {
        Self { id, buf: BytesMut::with_capacity(declared as usize), sha: Sha256::new(), crc: 0 }
    }
}

impl BlobSink for SegmentSink {
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, BlobResult<()>> {
        self.sha.update(&chunk);
        self.crc = crc32c::crc32c_append(self.crc, &chunk);
        self.buf.extend_from_slice(&chunk);
        Box::pin(std::future::ready(Ok(())))
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, BlobResult<Staged>> {
        let Self { id, buf, sha, crc } = *self;
        let measured = Measured { len: buf.len() as u64, sha256: Sha256Digest(sha.finalize().into()) };
        let item = AppendItem { id, sha256: measured.sha256, crc, payload: vec![buf.freeze()] };
        Box::pin(std::future::ready(Ok(Staged { measured, inner: Box::new(StagedBody::Segment(item)) })))
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(std::future::ready(()))
    }
}

type Written = Result<(BlobWriter, Sha256, u32), StoreError>;

/// A large body, streamed to a temporary file by a blocking writer.
pub(super) struct FileSink {
    tx: Option<mpsc::Sender<Bytes>>,
    writer: Option<JoinHandle<Written>>,
    pending: BytesMut,
    got: u64,
}

impl FileSink {
    /// Starts the writer thread for `writer`.
    pub(super) fn start(writer: BlobWriter) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(2);
        let task = tokio::task::spawn_blocking(move || {
            let mut writer = writer;
            let mut sha = Sha256::new();
            let mut crc = 0u32;
            while let Some(batch) = rx.blocking_recv() {
                sha.update(&batch);
                crc = crc32c::crc32c_append(crc, &batch);
                writer.write(vec![batch])?;
            }
            Ok((writer, sha, crc))
        });
        Self { tx: Some(tx), writer: Some(task), pending: BytesMut::with_capacity(BLOB_WRITE_BATCH), got: 0 }
    }

    /// The writer's outcome (it has stopped, or is told to by dropping the channel).
    async fn join(&mut self) -> BlobResult<(BlobWriter, Sha256, u32)> {
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
            let (writer, sha, crc) = self.join().await?;
            let measured = Measured { len: self.got, sha256: Sha256Digest(sha.finalize().into()) };
            Ok(Staged { measured, inner: Box::new(StagedBody::File(writer, crc)) })
        })
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        // The writer stops at the closed channel; dropping it removes the temporary file.
        Box::pin(async move { drop(self.join().await) })
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
