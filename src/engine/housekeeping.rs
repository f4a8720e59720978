//! [`Housekeeping`]: what a backend does beside serving requests — reclaiming space no record
//! points at, compacting, checking itself, backing itself up, gauges, and closing cleanly.
//!
//! The service runs these from its jobs and its admin operations and never knows how a
//! backend lays its bytes out: the local backend compacts segment files and walks its blob
//! directory; an object-store backend lists a prefix and aborts stale multipart uploads and
//! has nothing to compact. Every operation is blocking (jobs run on blocking threads) and
//! safe while the daemon serves, except a repairing check, which runs offline. The caller
//! keeps these from overlapping one another (the service's maintenance lock); the backend
//! keeps each one safe against uploads, downloads and deletes running meanwhile.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::ids::AttachmentId;

use super::blobs::BlobResult;

/// Who knows which uploads are running: bytes of an upload in progress are never an orphan,
/// even before its record points at them.
pub trait UploadGuard: Send + Sync {
    /// Runs `f` unless an upload of `id` is in progress, keeping one from starting while `f`
    /// runs; `None` when one is in progress.
    fn unless_uploading(&self, id: AttachmentId, f: &mut dyn FnMut() -> BlobResult<()>) -> Option<BlobResult<()>>;
}

/// What a compaction pass did.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct CompactionReport {
    /// Containers (segment files) removed.
    pub segments_removed: u64,
    /// Records copied forward.
    pub records_moved: u64,
    /// Bytes of the containers removed.
    pub bytes_reclaimed: u64,
}

/// One attachment with a problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// The attachment.
    pub attachment_id: String,
    /// What is wrong.
    pub what: String,
}

/// What a check found (and, with repair, did).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    /// Nothing wrong.
    pub ok: bool,
    /// Records examined.
    pub records: u64,
    /// Of which uploaded.
    pub uploaded: u64,
    /// Payload bytes read and hashed.
    pub bytes_verified: u64,
    /// Stored bytes that exist but fail verification.
    pub corrupt: Vec<Problem>,
    /// Stored bytes that are gone.
    pub missing: Vec<Problem>,
    /// Records with a missing or extra derived row (listing, filters, expiry, deleted).
    pub row_problems: Vec<String>,
    /// Usage or container counters that differ from the sums of the records.
    pub counter_mismatches: Vec<String>,
    /// Stored objects no record points at (reclaimed by cleanup after the orphan grace).
    pub orphan_files: Vec<String>,
    /// Containers kept read-only after damage was found in them.
    pub damaged_segments: Vec<String>,
    /// What a repair changed.
    pub repaired: Vec<String>,
}

/// What a backup wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The backup directory (a complete data directory).
    pub dest: PathBuf,
    /// Bytes of segment files linked or copied.
    pub segment_bytes: u64,
    /// Bytes of standalone blobs linked or copied.
    pub blob_bytes: u64,
}

/// A backend's housekeeping (see the module docs).
pub trait Housekeeping: Send + Sync {
    /// Removes stored bytes no record points at that are older than `grace` (and temporary
    /// bytes of interrupted uploads), never those of an upload `uploads` says is running.
    /// Returns how many objects were removed.
    fn sweep_orphans(&self, grace: Duration, uploads: &dyn UploadGuard) -> BlobResult<u64>;
    /// One compaction pass; backends with nothing to compact report zeros.
    fn compact(&self) -> BlobResult<CompactionReport>;
    /// Bytes the backend's stored objects take (to report what cleanup freed).
    fn disk_bytes(&self) -> u64;
    /// Refreshes the backend's gauges; returns them for the job's log line.
    fn sample(&self) -> serde_json::Value;
    /// Checks every record against its bytes and the rows and counters it implies; with
    /// `repair` (offline only), fixes what can be fixed.
    fn fsck(&self, repair: bool) -> BlobResult<FsckReport>;
    /// Whether a repair was interrupted (counters are then incomplete: nothing may act on
    /// them until a repair completes).
    fn repair_interrupted(&self) -> BlobResult<bool>;
    /// Writes a complete, consistent copy of the backend's data into `dest` (an empty
    /// directory the caller created), taken while serving.
    fn backup(&self, dest: &Path) -> BlobResult<BackupReport>;
    /// Finishes queued writes and leaves the data as a clean shutdown would.
    fn close(&self);
}
