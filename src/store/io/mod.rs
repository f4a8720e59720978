//! Write engines: how bytes reach a file and become durable.
//!
//! The store never calls `pwrite`/`fdatasync` itself; it hands an [`IoEngine`] a batch of
//! positioned, vectored writes (the request's own `Bytes` chunks, never copied) and asks for a
//! data sync at the end. [`sync::SyncEngine`] does this with `pwritev` + `fdatasync`;
//! [`uring::UringEngine`] submits the whole batch and then the `fdatasync` to an io_uring owned by
//! a dedicated thread. Contract for both: when `write_batch` returns `Ok` with `sync = true`,
//! every byte of every op is on stable storage; on `Err`, nothing about the batch may be assumed
//! (the caller treats the whole batch as failed and never retries the sync as if it had worked).
//!
//! Every other change the store makes to its files and directories — creating a file,
//! truncating it, renaming, removing, creating directories and fsyncing them — also goes
//! through the engine, as hooks whose default implementations are the plain syscalls. The
//! real engines keep the defaults; [`powercut::PowerCutEngine`] overrides them to remember what
//! a power cut would lose, and [`fault::FaultyEngine`] passes them to the engine it wraps.

pub mod fault;
pub mod powercut;
pub mod sync;
pub mod uring;

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::IoEngineChoice;

/// One positioned write: `bufs` are written back to back starting at `offset`.
#[derive(Debug, Clone)]
pub struct WriteOp {
    /// File offset of the first byte.
    pub offset: u64,
    /// The bytes, in order. Shared buffers: the engine borrows them until it returns.
    pub bufs: Vec<Bytes>,
}

impl WriteOp {
    /// Total bytes in this op.
    pub fn len(&self) -> u64 {
        self.bufs.iter().map(|b| b.len() as u64).sum()
    }
    /// Whether this op writes nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A way to write batches to files. Implementations are blocking: call them from a dedicated
/// or blocking thread, never from an async task.
pub trait IoEngine: Send + Sync + 'static {
    /// Short name for logs and metrics ("sync", "uring").
    fn name(&self) -> &'static str;
    /// Writes every op in full, then (if `sync`) makes the data durable with one fdatasync.
    fn write_batch(&self, file: &File, ops: &[WriteOp], sync: bool) -> io::Result<()>;
    /// Makes everything written to `file` so far durable (fdatasync).
    fn sync(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
    /// Makes data and metadata of `file` durable (fsync).
    fn sync_all(&self, file: &File) -> io::Result<()> {
        file.sync_all()
    }
    /// Sets the length of `file` (ftruncate); durable after the next sync of the file.
    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    /// Creates a new file (read + write, failing if it exists); its directory entry is durable
    /// after the next [`IoEngine::sync_dir`] of its directory.
    fn create_new(&self, path: &Path) -> io::Result<File> {
        File::options().read(true).write(true).create_new(true).open(path)
    }
    /// Renames `from` to `to` (replacing `to`); durable after `to`'s directory is synced.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    /// Removes a file; durable after its directory is synced.
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    /// Creates `dir` and any missing ancestors; each is durable once its parent is synced.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    /// fsyncs a directory, making the entries created, renamed or removed in it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// Builds the engine the configuration asks for. `auto` falls back to sync (logging once) when
/// the kernel or a seccomp policy refuses io_uring.
pub fn open_engine(choice: IoEngineChoice) -> io::Result<Arc<dyn IoEngine>> {
    match choice {
        IoEngineChoice::Sync => Ok(Arc::new(sync::SyncEngine)),
        IoEngineChoice::Uring => Ok(Arc::new(uring::UringEngine::start()?)),
        IoEngineChoice::Auto => match uring::UringEngine::start() {
            Ok(e) => Ok(Arc::new(e)),
            Err(err) => {
                tracing::warn!(error = %err, "io_uring unavailable, falling back to the sync (pwritev) engine");
                Ok(Arc::new(sync::SyncEngine))
            }
        },
    }
}

#[cfg(test)]
pub(crate) mod engine_suite {
    //! One test suite, run against every engine.
    use super::*;
    use std::os::unix::fs::FileExt;

    fn chunked(data: &[u8], piece: usize) -> Vec<Bytes> {
        data.chunks(piece.max(1)).map(Bytes::copy_from_slice).collect()
    }

    pub fn run_all(engine: &dyn IoEngine) {
        writes_land_at_their_offsets(engine);
        many_ops_and_many_buffers(engine);
        empty_batch_is_fine(engine);
        large_op_over_iov_max(engine);
        error_on_read_only_file(engine);
    }

    fn writes_land_at_their_offsets(engine: &dyn IoEngine) {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options().read(true).write(true).create(true).open(dir.path().join("f")).unwrap();
        let ops = vec![
            WriteOp { offset: 10, bufs: chunked(b"hello world", 3) },
            WriteOp { offset: 0, bufs: vec![Bytes::from_static(b"0123456789")] },
        ];
        engine.write_batch(&f, &ops, true).unwrap();
        let mut buf = vec![0u8; 21];
        f.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"0123456789hello world");
    }

    fn many_ops_and_many_buffers(engine: &dyn IoEngine) {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options().read(true).write(true).create(true).open(dir.path().join("f")).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let ops: Vec<WriteOp> = data
            .chunks(10_000)
            .enumerate()
            .map(|(i, c)| WriteOp { offset: (i * 10_000) as u64, bufs: chunked(c, 333) })
            .collect();
        engine.write_batch(&f, &ops, true).unwrap();
        let mut back = vec![0u8; data.len()];
        f.read_exact_at(&mut back, 0).unwrap();
        assert!(back == data);
    }

    fn empty_batch_is_fine(engine: &dyn IoEngine) {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options().write(true).create(true).open(dir.path().join("f")).unwrap();
        engine.write_batch(&f, &[], true).unwrap();
        engine.write_batch(&f, &[WriteOp { offset: 0, bufs: vec![] }], false).unwrap();
    }

    fn large_op_over_iov_max(engine: &dyn IoEngine) {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options().read(true).write(true).create(true).open(dir.path().join("f")).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        engine.write_batch(&f, &[WriteOp { offset: 0, bufs: chunked(&data, 1) }], true).unwrap();
        let mut back = vec![0u8; data.len()];
        f.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(back, data);
    }

    fn error_on_read_only_file(engine: &dyn IoEngine) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ro"), b"x").unwrap();
        let f = File::open(dir.path().join("ro")).unwrap();
        let r = engine.write_batch(&f, &[WriteOp { offset: 0, bufs: vec![Bytes::from_static(b"y")] }], true);
        assert!(r.is_err());
    }
}
