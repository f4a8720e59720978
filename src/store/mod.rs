//! The byte store: segment files for small blobs, standalone files for large ones.
//!
//! The store knows files, offsets and checksums, nothing about reservations, users or the
//! index (it never imports `index`). Its promise to callers: when a write method returns `Ok`,
//! the bytes are durable (fdatasynced, and for standalone files renamed into place with the
//! directory synced). Where a caller may point the index at them only after that.

pub mod blob;
pub mod format;
pub mod io;
pub mod segment;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::IoEngineChoice;
use io::IoEngine;

pub use blob::{BlobReader, BlobWriter, Blobs, StoredBlob};
pub use segment::{AppendItem, Placement, SegmentInfo, SegmentState, Segments};

/// What can go wrong below the index.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The filesystem is full (ENOSPC/EDQUOT).
    #[error("no space left on the data volume while trying to {context}")]
    NoSpace {
        /// What was being done.
        context: String,
    },
    /// Any other I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done ("append to segment 0000000000000003").
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes failed verification: they will not be served.
    #[error("stored bytes failed verification: {0}")]
    Corrupt(String),
    /// Nothing is stored where the caller looked.
    #[error("not found: {0}")]
    NotFound(String),
}

impl StoreError {
    /// Wraps an `io::Error`, recognising a full disk.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        let context = context.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => Self::NoSpace { context },
            _ if source.kind() == std::io::ErrorKind::NotFound => Self::NotFound(context),
            _ => Self::Io { context, source },
        }
    }
}

/// The store: both areas and the engine they write with.
pub struct Store {
    /// Shared append-only segment files.
    pub segments: Segments,
    /// One file per large attachment.
    pub blobs: Blobs,
    engine: Arc<dyn IoEngine>,
}

impl Store {
    /// Opens (and recovers) the store under `data_dir`.
    pub fn open(data_dir: &Path, engine: IoEngineChoice, segment_bytes: u64) -> Result<Self, StoreError> {
        let engine = io::open_engine(engine).map_err(|e| StoreError::io("start the io engine", e))?;
        Self::open_with_engine(data_dir, engine, segment_bytes)
    }

    /// Opens the store with an engine built by the caller (tests, fault injection).
    pub fn open_with_engine(
        data_dir: &Path,
        engine: Arc<dyn IoEngine>,
        segment_bytes: u64,
    ) -> Result<Self, StoreError> {
        let segments = Segments::open(&data_dir.join("segments"), engine.clone(), segment_bytes)?;
        let blobs = Blobs::open(&data_dir.join("blobs"), engine.clone())?;
        Ok(Self { segments, blobs, engine })
    }

    /// The engine's name ("uring" or "sync").
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }
}

/// Copies the tree under `src` to `dest` for a backup: regular files are hard-linked when
/// `dest` is on the same filesystem (they are never modified in place once sealed or
/// renamed, only removed), copied otherwise; `copy_always` names files that are still
/// being appended to, which are always copied. Returns the bytes linked or copied.
pub fn snapshot_tree(src: &Path, dest: &Path, copy_always: &dyn Fn(&Path) -> bool) -> Result<u64, StoreError> {
    let ctx = |p: &Path| format!("back up {}", p.display());
    std::fs::create_dir_all(dest).map_err(|e| StoreError::io(ctx(dest), e))?;
    let mut total = 0;
    let entries = match std::fs::read_dir(src) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(ctx(src), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(ctx(src), e))?;
        let (from, to) = (entry.path(), dest.join(entry.file_name()));
        let meta = entry.metadata().map_err(|e| StoreError::io(ctx(&from), e))?;
        if meta.is_dir() {
            total += snapshot_tree(&from, &to, copy_always)?;
        } else if meta.is_file() {
            if copy_always(&from) || std::fs::hard_link(&from, &to).is_err() {
                std::fs::copy(&from, &to).map_err(|e| StoreError::io(ctx(&from), e))?;
            }
            total += meta.len();
        }
    }
    Ok(total)
}

/// Makes sure `dir` exists and that its entry, and every ancestor's, is durable: the first
/// time this process meets a directory it creates it if needed and fsyncs each parent up to an
/// ancestor already known durable. The fsyncs are not skipped just because the directory
/// exists: a concurrent caller may have created it and not yet synced its parent, and an upload
/// that renamed its file in and answered 200 must not depend on that other caller's fsync.
pub(crate) fn create_dir_durable(engine: &dyn IoEngine, dir: &Path) -> Result<(), StoreError> {
    static DURABLE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<PathBuf>>> =
        std::sync::LazyLock::new(Default::default);
    let mut durable = DURABLE.lock().unwrap_or_else(|e| e.into_inner());
    if durable.contains(dir) && dir.is_dir() {
        return Ok(());
    }
    engine.create_dir_all(dir).map_err(|e| StoreError::io(format!("create directory {}", dir.display()), e))?;
    let mut made_durable = vec![dir.to_path_buf()];
    let mut cur = dir;
    while let Some(parent) = cur.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(engine, parent)?;
        if durable.contains(parent) {
            break;
        }
        made_durable.push(parent.to_path_buf());
        cur = parent;
    }
    durable.extend(made_durable);
    Ok(())
}

/// fsyncs a directory (after creating, renaming or removing an entry in it).
pub(crate) fn sync_dir(engine: &dyn IoEngine, dir: &Path) -> Result<(), StoreError> {
    engine.sync_dir(dir).map_err(|e| StoreError::io(format!("sync directory {}", dir.display()), e))
}

/// Free bytes (available to unprivileged users) on the filesystem holding `path`; 0 if it
/// cannot be read.
pub fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return 0 };
    // SAFETY: statvfs fills the zeroed struct; the path is NUL-terminated.
    unsafe {
        let mut s: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut s) != 0 {
            return 0;
        }
        (s.f_bavail as u64).saturating_mul(s.f_frsize as u64)
    }
}

/// Preallocates `len` bytes (fallocate); filesystems without fallocate get a sparse extent.
pub(crate) fn preallocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: plain syscall on an owned descriptor.
    let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if r == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => file.set_len(len),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::create_dir_durable;
    use crate::store::io::sync::SyncEngine;

    #[test]
    fn durable_directories_are_created_and_recreated_if_removed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("blobs/project/202611");
        create_dir_durable(&SyncEngine, &dir).unwrap();
        assert!(dir.is_dir());
        create_dir_durable(&SyncEngine, &dir).unwrap(); // known now: no work, still fine
        std::fs::remove_dir_all(root.path().join("blobs")).unwrap();
        create_dir_durable(&SyncEngine, &dir).unwrap();
        assert!(dir.is_dir(), "a known directory that disappeared is created again");
    }
}
