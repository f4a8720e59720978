//! Standalone files for large attachments, laid out so nginx can serve them directly:
//! `blobs/<project_id>/<YYYY-MM>/<attachment_id>` (raw bytes, nothing else in the file).
//!
//! Write path: (1) create `blobs/.tmp/<id>.<nonce>` and preallocate the declared size,
//! (2) write chunks as they arrive, (3) fdatasync the file, (4) rename it into place,
//! (5) fsync the destination directory. Only after (5) may the index point at it. A
//! `BlobWriter` dropped before `commit` removes its temporary file (the guard); files a crash
//! leaves in `.tmp` are removed by the orphan sweep once older than the grace period.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::ids::{AttachmentId, ProjectId};
use crate::store::io::{IoEngine, WriteOp};
use crate::store::{StoreError, create_dir_durable, preallocate, sync_dir};

/// Where a standalone blob lives, relative to the blob root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredBlob {
    /// Owning project (first path component).
    pub project: ProjectId,
    /// `YYYYMM` of the upload (second path component, printed `YYYY-MM`).
    pub month: u32,
    /// The attachment (file name).
    pub id: AttachmentId,
}

impl StoredBlob {
    /// `<project>/<YYYY-MM>/<id>`: the path below the blob root, also the X-Accel-Redirect suffix.
    pub fn rel_path(&self) -> String {
        format!("{}/{:04}-{:02}/{}", self.project, self.month / 100, self.month % 100, self.id)
    }
}

/// The standalone-file area.
pub struct Blobs {
    root: PathBuf,
    tmp: PathBuf,
    engine: Arc<dyn IoEngine>,
}

/// An upload being written to a temporary file.
pub struct BlobWriter {
    file: File,
    tmp_path: PathBuf,
    written: u64,
    target: StoredBlob,
    engine: Arc<dyn IoEngine>,
    root: PathBuf,
    committed: bool,
}

/// A committed blob opened for reading.
pub struct BlobReader {
    file: File,
    len: u64,
}

impl Blobs {
    /// Opens (creating if needed) the blob area under `root`.
    pub fn open(root: &Path, engine: Arc<dyn IoEngine>) -> Result<Self, StoreError> {
        let tmp = root.join(".tmp");
        create_dir_durable(engine.as_ref(), &tmp)?;
        Ok(Self { root: root.to_path_buf(), tmp, engine })
    }

    /// The blob root (what nginx's internal location aliases).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Starts writing `target`, preallocating `declared` bytes.
    pub fn create(&self, target: StoredBlob, declared: u64) -> Result<BlobWriter, StoreError> {
        let nonce: u64 = rand_nonce();
        let tmp_path = self.tmp.join(format!("{}.{nonce:016x}", target.id));
        let file = self
            .engine
            .create_new(&tmp_path)
            .map_err(|e| StoreError::io(format!("create temporary file for {}", target.id), e))?;
        let mut w = BlobWriter {
            file,
            tmp_path,
            written: 0,
            target,
            engine: self.engine.clone(),
            root: self.root.clone(),
            committed: false,
        };
        preallocate(&w.file, declared)
            .map_err(|e| StoreError::io(format!("preallocate {declared} bytes for {}", target.id), e))?;
        w.written = 0;
        Ok(w)
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, blob: &StoredBlob) -> Result<BlobReader, StoreError> {
        let path = self.root.join(blob.rel_path());
        let file = File::open(&path).map_err(|e| StoreError::io(format!("open blob {}", blob.id), e))?;
        let len = file.metadata().map_err(|e| StoreError::io(format!("stat blob {}", blob.id), e))?.len();
        Ok(BlobReader { file, len })
    }

    /// Removes a committed blob (after the index stopped pointing at it). Missing is fine.
    pub fn remove(&self, blob: &StoredBlob) -> Result<(), StoreError> {
        let path = self.root.join(blob.rel_path());
        match self.engine.remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StoreError::io(format!("remove blob {}", blob.id), e)),
        }
        // The month directory stays even when empty: removing it could race an upload that
        // is about to rename its file into it.
        if let Some(dir) = path.parent() {
            sync_dir(self.engine.as_ref(), dir)?;
        }
        Ok(())
    }

    /// Every committed blob file with its modification time, for the orphan sweep. Entries
    /// whose names are not `<uuid>/<YYYY-MM>/<uuid>` are returned as `None` with their path.
    pub fn list(&self) -> Result<Vec<(Option<StoredBlob>, PathBuf, SystemTime)>, StoreError> {
        let mut out = Vec::new();
        let ctx = |p: &Path| format!("list {}", p.display());
        for project in read_dir(&self.root).map_err(|e| StoreError::io(ctx(&self.root), e))? {
            let name = project.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if name == ".tmp" || !project.is_dir() {
                continue;
            }
            for month_dir in read_dir(&project).map_err(|e| StoreError::io(ctx(&project), e))? {
                for file in read_dir(&month_dir).map_err(|e| StoreError::io(ctx(&month_dir), e))? {
                    let mtime = file.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::now());
                    out.push((parse_blob_path(&project, &month_dir, &file), file, mtime));
                }
            }
        }
        Ok(out)
    }

    /// Temporary files (uploads in progress, or left by a crash) with their modification times.
    pub fn list_tmp(&self) -> Result<Vec<(PathBuf, SystemTime)>, StoreError> {
        let files = read_dir(&self.tmp).map_err(|e| StoreError::io(format!("list {}", self.tmp.display()), e))?;
        Ok(files
            .into_iter()
            .map(|f| {
                let t = f.metadata().and_then(|m| m.modified()).unwrap_or(SystemTime::now());
                (f, t)
            })
            .collect())
    }

    /// Removes a file found by [`Blobs::list`] or [`Blobs::list_tmp`] (orphan sweep).
    pub fn remove_path(&self, path: &Path) -> Result<(), StoreError> {
        if !path.starts_with(&self.root) {
            return Err(StoreError::NotFound(format!("{} is outside the blob area", path.display())));
        }
        match self.engine.remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::io(format!("remove {}", path.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Bytes the blob area occupies on disk.
    pub fn disk_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            use std::os::unix::fs::MetadataExt;
            let Ok(rd) = std::fs::read_dir(p) else {
                return 0;
            };
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.blocks() * 512,
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.root)
    }
}

impl BlobWriter {
    /// Appends chunks (one vectored write, no sync).
    pub fn write(&mut self, bufs: Vec<Bytes>) -> Result<(), StoreError> {
        let op = WriteOp { offset: self.written, bufs };
        let len = op.len();
        self.engine
            .write_batch(&self.file, std::slice::from_ref(&op), false)
            .map_err(|e| StoreError::io(format!("write blob {}", self.target.id), e))?;
        // Start write-back of what was just written (without waiting), so the disk streams while
        // the body arrives and the final fdatasync has little left to flush. Durability still
        // comes from that fdatasync alone.
        use std::os::fd::AsRawFd;
        // SAFETY: plain syscall on an owned descriptor; failure only loses the head start.
        unsafe {
            libc::sync_file_range(self.file.as_raw_fd(), self.written as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE)
        };
        self.written += len;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the blob durable at its final path (steps 3–5 of the write path).
    pub fn commit(mut self) -> Result<StoredBlob, StoreError> {
        let id = self.target.id;
        // Preallocation may have reserved more than was written (never on success, but be exact).
        self.engine.set_len(&self.file, self.written).map_err(|e| StoreError::io(format!("truncate blob {id}"), e))?;
        self.engine.sync(&self.file).map_err(|e| StoreError::io(format!("sync blob {id}"), e))?;
        let dest = self.root.join(self.target.rel_path());
        let dir = dest.parent().expect("a blob path has a parent");
        create_dir_durable(self.engine.as_ref(), dir)?;
        self.engine
            .rename(&self.tmp_path, &dest)
            .map_err(|e| StoreError::io(format!("rename blob {id} into place"), e))?;
        self.committed = true;
        sync_dir(self.engine.as_ref(), dir)?;
        Ok(self.target)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.engine.remove_file(&self.tmp_path);
        }
    }
}

impl BlobReader {
    /// File length.
    pub fn len(&self) -> u64 {
        self.len
    }
    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Reads up to `max` bytes at `offset` (blocking).
    pub fn read_at(&self, offset: u64, max: usize) -> Result<Bytes, StoreError> {
        use std::os::unix::fs::FileExt;
        let n = (self.len.saturating_sub(offset)).min(max as u64) as usize;
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| StoreError::io("read blob", e))?;
        Ok(Bytes::from(buf))
    }
}

fn read_dir(p: &Path) -> std::io::Result<Vec<PathBuf>> {
    match std::fs::read_dir(p) {
        Ok(rd) => rd.map(|e| e.map(|e| e.path())).collect(),
        // Gone meanwhile, or a stray file where a directory was expected: nothing below it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn parse_blob_path(project: &Path, month: &Path, file: &Path) -> Option<StoredBlob> {
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_string);
    let project: ProjectId = name(project)?.parse().ok()?;
    let m = name(month)?;
    let (y, mo) = m.split_once('-')?;
    let (y, mo): (u32, u32) = (y.parse().ok()?, mo.parse().ok()?);
    if !(1..=12).contains(&mo) || y > 9999 {
        return None;
    }
    let id: AttachmentId = name(file)?.parse().ok()?;
    Some(StoredBlob { project, month: y * 100 + mo, id })
}

fn rand_nonce() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).ok();
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::io::sync::SyncEngine;

    fn target() -> StoredBlob {
        StoredBlob { project: ProjectId::random(), month: 202611, id: AttachmentId::random() }
    }

    #[test]
    fn commit_places_the_file_where_nginx_expects_it() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path(), Arc::new(SyncEngine)).unwrap();
        let t = target();
        let mut w = blobs.create(t, 11).unwrap();
        w.write(vec![Bytes::from_static(b"hello "), Bytes::from_static(b"world")]).unwrap();
        let stored = w.commit().unwrap();
        let path = dir.path().join(format!("{}/2026-11/{}", t.project, t.id));
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let r = blobs.open_blob(&stored).unwrap();
        assert_eq!(r.len(), 11);
        assert_eq!(&r.read_at(6, 100).unwrap()[..], b"world");
        assert_eq!(blobs.list().unwrap()[0].0, Some(t));
        assert!(blobs.list_tmp().unwrap().is_empty());
        blobs.remove(&stored).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn an_abandoned_writer_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path(), Arc::new(SyncEngine)).unwrap();
        let mut w = blobs.create(target(), 1 << 20).unwrap();
        w.write(vec![Bytes::from_static(b"partial")]).unwrap();
        assert_eq!(blobs.list_tmp().unwrap().len(), 1);
        drop(w);
        assert!(blobs.list_tmp().unwrap().is_empty());
        assert!(blobs.list().unwrap().is_empty());
    }
}
