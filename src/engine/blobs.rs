//! [`BlobStore`]: where attachment bytes live, written in terms of the neutral model only.
//!
//! An upload's bytes go through three steps, in this order, and no other:
//!   1. **stage** — [`BlobStore::stage`] opens a [`BlobSink`] for the record, for a body of
//!      exactly the declared size or (an upload whose size is unknown up front: multipart,
//!      chunked) of at most a bound; the body is
//!      written into it as it arrives, and the sink measures it (length, SHA-256 and any
//!      other digest asked for) while it streams. [`BlobSink::finish`] returns a [`Staged`]
//!      body: written, not yet durable, not yet visible. Dropping a sink or a `Staged` body
//!      discards it (a backend's temporary space is reclaimed by its own guard or sweep).
//!   2. the caller checks the measurements against the reservation;
//!   3. **commit** — [`BlobStore::commit_upload`] makes the bytes durable and then commits
//!      the record's transition to *uploaded at this location* through the same backend's
//!      catalog, refusing if the record changed since it was read; a commit may also retire
//!      the record this upload replaces (a slot's previous file), in the same catalog write.
//!      It resolves only when
//!      both are durable, so a client hears 200 only after that. The two halves are one call
//!      because they are one unit on every backend: bytes durable before the catalog points at
//!      them, and a backend may share one flush among many uploads (the local group commit).
//!
//! Reads go through [`BlobStore::open`]: bytes read whole (small blobs), a ranged reader for
//! large ones, or a redirect a proxy follows (X-Accel-Redirect today, a presigned GET on an
//! object store). Removal after a hard delete is [`BlobStore::remove`].

use std::any::Any;

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;

use crate::ids::Sha256Digest;
use crate::model::{Attachment, Md5Digest};

use super::CatalogError;

/// A boxed future, as the traits' async methods return (they are called through `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a blob store refuses, or fails with.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No room for the bytes (the disk or the store is full).
    #[error("no space left for the body")]
    NoSpace,
    /// Stored bytes failed verification: they are not served.
    #[error("stored bytes failed verification: {0}")]
    Corrupt(String),
    /// Bytes the record points at are missing (data loss on our side).
    #[error("stored bytes are missing: {0}")]
    Missing(String),
    /// The record is gone (a commit or a read found no record).
    #[error("the attachment is gone")]
    RecordGone,
    /// A commit found the record soft-deleted since it was read.
    #[error("the attachment was deleted")]
    RecordDeleted,
    /// A commit found the record already uploaded.
    #[error("the attachment is already uploaded")]
    AlreadyUploaded,
    /// Another commit of the same record is in the same batch.
    #[error("another upload of the attachment is being committed")]
    InProgress,
    /// The store is shutting down.
    #[error("the blob store is shutting down")]
    Unavailable,
    /// The catalog half of a commit failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Anything else (I/O, the object store's errors).
    #[error("blob store: {0}")]
    Backend(String),
}

/// Result of a blob store call.
pub type BlobResult<T> = Result<T, BlobError>;

/// A body measured while it streamed into a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Bytes received.
    pub len: u64,
    /// Their SHA-256.
    pub sha256: Sha256Digest,
    /// Their MD5, when the plan asked for it.
    pub md5: Option<Md5Digest>,
}

/// How large a body will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySize {
    /// Exactly this many bytes (declared at reserve).
    Exactly(u64),
    /// Unknown up front, at most this many bytes (a limit, or a bound from `Content-Length`).
    AtMost(u64),
}

impl BodySize {
    /// The most bytes the body can have.
    pub fn bound(self) -> u64 {
        match self {
            Self::Exactly(n) | Self::AtMost(n) => n,
        }
    }
}

/// What a sink is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPlan {
    /// The body's size, or its bound.
    pub size: BodySize,
    /// Whether to compute an MD5 too (for APIs that report one).
    pub md5: bool,
}

impl BodyPlan {
    /// A body of exactly `n` bytes, SHA-256 only.
    pub fn exactly(n: u64) -> Self {
        Self { size: BodySize::Exactly(n), md5: false }
    }
}

/// An upload's commit: the staged bytes, the pending record they are for (as read), the time
/// and, optionally, the live record this upload replaces.
pub struct Commit {
    /// The bytes.
    pub staged: Staged,
    /// The pending record.
    pub rec: Attachment,
    /// The upload time recorded.
    pub now: crate::clock::Timestamp,
    /// A record retired (soft-deleted at `now`) by the same catalog write, if it is still
    /// live then; a record already deleted or gone is left as it is.
    pub replaces: Option<Attachment>,
    /// The reservation was for *at most* `rec.size_bytes`, its digests unknown (an upload URL
    /// handed out before the file existed): the commit records the measured size and digests
    /// instead, in the same catalog write, so the usage counters fall by what was reserved and
    /// not used. A body larger than reserved is refused ([`BlobError::Backend`]); the caller
    /// bounds its sink by the reservation, so that never happens to a well-behaved caller.
    pub settle: bool,
}

/// Where an upload's body is written as it arrives.
pub trait BlobSink: Send {
    /// Writes the next chunk (may wait for the backend's writer: back-pressure).
    fn write(&mut self, chunk: Bytes) -> BoxFuture<'_, BlobResult<()>>;
    /// Ends the body: everything written is staged, with its measurements.
    fn finish(self: Box<Self>) -> BoxFuture<'static, BlobResult<Staged>>;
    /// Discards what was written; resolves once the bytes are gone (dropping the sink
    /// discards them too, but without waiting).
    fn abort(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// A body written by a sink and not yet committed. Dropping it discards the bytes.
pub struct Staged {
    /// What the sink measured.
    pub measured: Measured,
    /// The backend's handle on the bytes (only its own store can commit it).
    pub inner: Box<dyn Any + Send>,
}

/// How a caller wants to read a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only whether it can be served (HEAD): nothing is opened.
    Head,
    /// The bytes, or a redirect if the store serves through a proxy.
    Body,
    /// The bytes themselves, never a redirect (the content scanner reads them).
    Bytes,
}

/// How a full read of a streamed blob is checked on the way.
#[derive(Debug, Clone, Copy)]
pub enum Verify {
    /// Against a CRC-32C recorded at upload.
    Crc32c(u32),
    /// Against the record's SHA-256.
    Sha256(Sha256Digest),
}

/// Ranged reads of one stored blob (blocking; callers run them off the async threads).
pub trait RangeRead: Send + Sync {
    /// Its length.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Up to `max` bytes from `offset` (fewer only at the end).
    fn read_at(&self, offset: u64, max: usize) -> BlobResult<Bytes>;
}

/// A blob opened for serving.
pub enum Opened {
    /// Nothing opened ([`Access::Head`]).
    Head,
    /// A path for the proxy in front (X-Accel-Redirect).
    Redirect(String),
    /// An absolute URL the client fetches the bytes from itself, valid for a short time (a
    /// presigned `GET` on an object store, which sets the response's type and disposition).
    Elsewhere(String),
    /// A small blob, read whole and verified by the blocking call (the caller reserves its
    /// memory before calling it).
    Whole(Box<dyn FnOnce() -> BlobResult<Bytes> + Send>),
    /// A large blob to stream in ranges, with how a full read is checked.
    Stream(Box<dyn RangeRead>, Verify),
}

/// Anything the caller wants kept alive until a commit has an outcome (an upload claim, a
/// memory permit), even if the caller itself has gone away.
pub type Hold = Box<dyn Any + Send>;

/// Attachment bytes. Implementations are shared by every request thread.
pub trait BlobStore: Send + Sync + 'static {
    /// Bytes a body of `size` holds in memory while it is received (for the upload budget).
    fn buffered(&self, size: BodySize) -> u64;

    /// Whether a body of `size` fits in the store now, leaving its reserve free.
    fn has_room_for(&self, size: u64) -> bool;

    /// Opens a sink for the body of record `rec` (its id and project name the bytes; it need
    /// not be reserved yet when the size is unknown up front), planned as `plan`. A sink never
    /// takes more than the plan's bound: the caller stops at it.
    fn stage<'a>(&'a self, rec: &'a Attachment, plan: BodyPlan) -> BoxFuture<'a, BlobResult<Box<dyn BlobSink>>>;

    /// Makes the staged bytes durable, then commits the record's transition to uploaded at
    /// `now` at the bytes' location, if the record is still pending as read — and, in the same
    /// catalog write, retires the record it replaces; resolves with the record as committed.
    /// `hold` is dropped once there is an outcome. Refusals: [`BlobError::RecordGone`],
    /// [`BlobError::RecordDeleted`], [`BlobError::AlreadyUploaded`], [`BlobError::InProgress`];
    /// refused bytes are discarded.
    fn commit_upload(&self, commit: Commit, hold: Hold) -> BoxFuture<'static, BlobResult<Attachment>>;

    /// Opens the bytes of the uploaded record `rec`.
    fn open<'a>(&'a self, rec: &'a Attachment, access: Access) -> BoxFuture<'a, BlobResult<Opened>>;

    /// Removes the bytes of `rec`, whose record the catalog no longer holds. Returns the bytes
    /// freed now (a store that frees space later, by compaction, returns 0).
    fn remove(&self, rec: &Attachment) -> BlobResult<u64>;
}
