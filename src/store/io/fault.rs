//! Fault injection below the engine: an [`IoEngine`] wrapper that fails writes and syncs on
//! command, the way disks and filesystems do.
//!
//! A failed sync behaves like Linux after a write-back error: the error is reported once, the
//! dirty pages are dropped (here: the bytes written since the last good sync are overwritten
//! with garbage), and a *later* sync of the same file succeeds. Code that retries a failed
//! sync and then trusts the data (fsyncgate) is caught by this: the bytes are gone. Used by the
//! fault tests (`tests/integration/faults.rs`) and the store's unit tests; production never
//! builds one. A failed write is torn: the ops before the middle one land whole, the middle one
//! only as a strict prefix of its bytes (a write cut inside one operation, as a crash mid-`pwritev`
//! leaves it), and nothing after it.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{IoEngine, WriteOp};

/// What to break next.
#[derive(Debug, Default, Clone, Copy)]
pub struct FaultPlan {
    /// Fail this many `write_batch` calls with EIO after a torn write (see the module doc).
    pub fail_writes: u32,
    /// Fail this many syncs with EIO, dropping the unsynced bytes.
    pub fail_syncs: u32,
    /// Fail this many `write_batch` calls with ENOSPC, writing nothing.
    pub no_space: u32,
}

/// Counts of faults injected so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FaultStats {
    /// Writes failed.
    pub writes_failed: u32,
    /// Syncs failed.
    pub syncs_failed: u32,
    /// ENOSPC returned.
    pub no_space: u32,
}

/// An engine that fails on command.
pub struct FaultyEngine {
    inner: Arc<dyn IoEngine>,
    state: Mutex<(FaultPlan, FaultStats, Vec<(i32, u64, u64)>)>,
}

impl FaultyEngine {
    /// Wraps `inner`; no faults until [`FaultyEngine::plan`].
    pub fn new(inner: Arc<dyn IoEngine>) -> Self {
        Self { inner, state: Mutex::new((FaultPlan::default(), FaultStats::default(), Vec::new())) }
    }

    /// Adds to the faults to inject.
    pub fn plan(&self, p: FaultPlan) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0.fail_writes += p.fail_writes;
        s.0.fail_syncs += p.fail_syncs;
        s.0.no_space += p.no_space;
    }

    /// Faults injected so far.
    pub fn stats(&self) -> FaultStats {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    fn take(counter: &mut u32) -> bool {
        if *counter > 0 {
            *counter -= 1;
            true
        } else {
            false
        }
    }

    fn failed_sync(&self, file: &File) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !Self::take(&mut s.0.fail_syncs) {
            s.2.retain(|(f, _, _)| *f != fd);
            return Ok(());
        }
        s.1.syncs_failed += 1;
        // Write-back failed: the unsynced pages are lost.
        for (_, off, len) in s.2.iter().filter(|(f, _, _)| *f == fd) {
            let _ = file.write_all_at(&vec![0xEEu8; *len as usize], *off);
        }
        s.2.retain(|(f, _, _)| *f != fd);
        Err(io::Error::from_raw_os_error(libc::EIO))
    }
}

impl IoEngine for FaultyEngine {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn write_batch(&self, file: &File, ops: &[WriteOp], sync: bool) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if Self::take(&mut s.0.no_space) {
                s.1.no_space += 1;
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            if Self::take(&mut s.0.fail_writes) {
                s.1.writes_failed += 1;
                drop(s);
                self.inner.write_batch(file, &torn(ops), false)?;
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            for op in ops {
                s.2.push((file.as_raw_fd(), op.offset, op.len()));
            }
        }
        self.inner.write_batch(file, ops, false)?;
        if sync { self.sync(file) } else { Ok(()) }
    }

    fn sync(&self, file: &File) -> io::Result<()> {
        self.failed_sync(file)?;
        self.inner.sync(file)
    }

    fn sync_all(&self, file: &File) -> io::Result<()> {
        self.failed_sync(file)?;
        self.inner.sync_all(file)
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        self.inner.set_len(file, len)
    }

    fn create_new(&self, path: &Path) -> io::Result<File> {
        self.inner.create_new(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}

/// What a torn write leaves: the ops before the middle one whole, then a strict prefix of the
/// middle one (half its bytes; at least one when it has two or more).
fn torn(ops: &[WriteOp]) -> Vec<WriteOp> {
    let mid = ops.len() / 2;
    let mut out = ops[..mid].to_vec();
    let Some(op) = ops.get(mid) else { return out };
    let len = op.len();
    let mut keep = if len >= 2 { (len / 2).max(1) } else { 0 };
    let mut bufs = Vec::new();
    for b in &op.bufs {
        if keep == 0 {
            break;
        }
        let n = keep.min(b.len() as u64) as usize;
        bufs.push(b.slice(..n));
        keep -= n as u64;
    }
    out.push(WriteOp { offset: op.offset, bufs });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::io::sync::SyncEngine;
    use bytes::Bytes;

    #[test]
    fn a_failed_sync_loses_the_unsynced_bytes_and_the_next_sync_lies() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options().read(true).write(true).create(true).open(dir.path().join("f")).unwrap();
        let e = FaultyEngine::new(Arc::new(SyncEngine));
        e.plan(FaultPlan { fail_syncs: 1, ..Default::default() });
        let op = WriteOp { offset: 0, bufs: vec![Bytes::from_static(b"precious")] };
        assert!(e.write_batch(&f, std::slice::from_ref(&op), true).is_err());
        assert!(e.sync(&f).is_ok(), "like Linux, the retry reports success");
        let mut back = [0u8; 8];
        f.read_exact_at(&mut back, 0).unwrap();
        assert_ne!(&back, b"precious", "the data is gone");
        assert_eq!(e.stats().syncs_failed, 1);
    }

    #[test]
    fn a_failed_write_tears_inside_its_one_op() {
        let dir = tempfile::tempdir().unwrap();
        let f = File::options().read(true).write(true).create_new(true).open(dir.path().join("f")).unwrap();
        let e = FaultyEngine::new(Arc::new(SyncEngine));
        e.plan(FaultPlan { fail_writes: 1, ..Default::default() });
        let op = WriteOp { offset: 0, bufs: vec![Bytes::from_static(b"0123456789"), Bytes::from_static(b"abcdef")] };
        assert!(e.write_batch(&f, std::slice::from_ref(&op), true).is_err());
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"01234567", "a strict prefix of the op landed");
        assert_eq!(e.stats().writes_failed, 1);
    }

    /// The torn bytes of a failed append really reach the segment file, and recovery cuts them
    /// while keeping the record synced before.
    #[test]
    fn recovery_cuts_what_a_torn_append_left() {
        use crate::ids::{AttachmentId, Sha256Digest};
        use crate::store::format::{RECORD_HEADER_LEN, TRAILER_LEN};
        use crate::store::{AppendItem, SegmentState, Segments};
        let item = |n: u8| {
            let data: Vec<u8> = (0..5000u32).map(|i| (i as u8).wrapping_mul(n) ^ 0x5a).collect();
            AppendItem {
                id: AttachmentId::from_bytes([n; 16]),
                sha256: Sha256Digest([n; 32]),
                crc: crc32c::crc32c(&data),
                payload: data.chunks(700).map(Bytes::copy_from_slice).collect(),
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let e = Arc::new(FaultyEngine::new(Arc::new(SyncEngine)));
        let segs = Segments::open(dir.path(), e.clone(), 1 << 20).unwrap();
        let good = segs.append_batch(&[item(1)]).unwrap()[0];
        let end = good.offset + RECORD_HEADER_LEN as u64 + good.len;
        e.plan(FaultPlan { fail_writes: 1, ..Default::default() });
        assert!(segs.append_batch(&[item(2)]).is_err());
        let path = segs.path_of(good.segment);
        drop(segs);
        let raw = std::fs::read(&path).unwrap();
        let torn_len = (RECORD_HEADER_LEN + 5000) / 2;
        let torn = &raw[end as usize..end as usize + torn_len];
        assert!(torn.starts_with(b"ATDR"), "the torn record's header is on disk");
        assert!(torn.iter().skip(RECORD_HEADER_LEN).any(|&b| b != 0), "and part of its payload");
        assert!(raw[end as usize + torn_len..].iter().take(64).all(|&b| b == 0), "but not the rest");

        let segs = Segments::open(dir.path(), Arc::new(SyncEngine), 1 << 20).unwrap();
        let info = segs.list()[0];
        assert_eq!((info.state, info.used), (SegmentState::Sealed, end), "cut right after the good record");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), end + TRAILER_LEN as u64);
        let back = segs.read(good.segment, good.offset, AttachmentId::from_bytes([1; 16]), good.len).unwrap();
        assert_eq!(back.len(), 5000);
    }
}
