//! Segment files: preallocated, append-only files of framed records, one writer at a time.
//!
//! A segment is *active* (the one appends go to), *retired* (a write or sync to it failed, so it
//! takes no more appends; recovery seals it at the next start) or *sealed* (a trailer marks
//! where its records end and the file is truncated right after it). Records only ever become
//! visible through the index, which points at them after they are durable, so bytes past the
//! last durable record are never read. Methods are split by operation: `write.rs` (append,
//! seal), `read.rs` (verified reads, header scans), `recovery.rs` (open, cut torn tails).
//! `scan.rs` holds the record scans recovery and reads run, over a read trait, so
//! `scan_check.rs` fuzzes them on plain bytes.

pub mod model;
mod read;
mod recovery;
pub mod scan;
pub mod scan_check;
mod write;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::ids::SegmentId;

use super::io::IoEngine;

pub use write::{AppendItem, Placement};

/// Where a segment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentState {
    /// Taking appends.
    Active,
    /// Took a failed write: no more appends; sealed at the next start.
    Retired,
    /// Recovery found damaged bytes followed by valid records: kept as found, read-only,
    /// never compacted, reported by fsck.
    Damaged,
    /// Trailer written, file truncated.
    Sealed,
}

/// A segment as the rest of the daemon sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its number.
    pub id: SegmentId,
    /// Bytes of header plus durable records (the trailer not included).
    pub used: u64,
    /// Its state.
    pub state: SegmentState,
}

/// An open segment file.
pub(crate) struct SegmentFile {
    pub(crate) id: SegmentId,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) info: Mutex<SegmentInfo>,
}

/// The writer's cursor in the active segment.
pub(crate) struct Active {
    pub(crate) seg: Arc<SegmentFile>,
    pub(crate) write_at: u64,
    pub(crate) records: u64,
}

/// All segment files of a store.
pub struct Segments {
    dir: PathBuf,
    engine: Arc<dyn IoEngine>,
    capacity: u64,
    files: RwLock<BTreeMap<SegmentId, Arc<SegmentFile>>>,
    active: Mutex<Option<Active>>,
    next_id: Mutex<u64>,
}

impl Segments {
    /// The directory holding the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Size new segments are preallocated to.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Every segment, oldest first.
    pub fn list(&self) -> Vec<SegmentInfo> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.values().map(|s| *s.info.lock().unwrap_or_else(|e| e.into_inner())).collect()
    }

    /// Bytes the segment files occupy on disk (as `du` would count them).
    pub fn disk_bytes(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.values().filter_map(|s| s.file.metadata().ok()).map(|m| m.blocks() * 512).sum()
    }

    fn get(&self, id: SegmentId) -> Option<Arc<SegmentFile>> {
        self.files.read().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }

    /// The path of segment `id`'s file.
    pub fn path_of(&self, id: SegmentId) -> PathBuf {
        self.dir.join(format!("{id}.seg"))
    }
}

#[cfg(test)]
mod tests;
