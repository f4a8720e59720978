//! Power-loss simulation: an [`IoEngine`] wrapper that remembers every change not yet made
//! durable and, at a simulated cut, puts files and directories back the way the syncs left them.
//!
//! `kill -9` keeps the page cache, so it cannot tell a missing fsync from a present one; this
//! engine can. Per file (keyed by device and inode, through a duplicated descriptor so renames
//! and unlinks do not lose track) it keeps an undo log of the bytes every write or truncation
//! replaced since the file's last successful `fdatasync`/`fsync`, and the length that sync made
//! durable. Per directory it keeps a journal of entries created, renamed (into it) and removed
//! since its last fsync; a removed or replaced file is kept as a hard link in a stash directory
//! until its removal is durable. [`PowerCutEngine::cut`] switches the power off (every later call
//! fails with EIO and changes nothing; calls in flight finish first), and
//! [`PowerCutEngine::restore`] then rewrites the replaced bytes, truncates each file to its durable
//! length and undoes the unsynced directory changes, newest first. Model choices: a rename is
//! durable once its destination directory is synced (one journal transaction on ext4/xfs); every
//! unsynced change is lost, none is kept half-way. RocksDB is not covered here (see
//! `index::replay`). Used by `tests/integration/powercut.rs`; production never builds one.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use super::{IoEngine, WriteOp};

/// What a cut undid, for tests to check that the simulation had something to forget.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CutReport {
    /// Files whose unsynced bytes or length were rolled back.
    pub files_rolled_back: u32,
    /// Directory changes (creations, renames, removals) undone.
    pub entries_undone: u32,
}

/// An engine whose unsynced work can be lost on command.
pub struct PowerCutEngine {
    inner: Arc<dyn IoEngine>,
    stash: PathBuf,
    /// `true` once the power is off. Every call holds the read side for its whole duration.
    off: RwLock<bool>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    files: HashMap<(u64, u64), FileLog>,
    journal: Vec<DirOp>,
    seq: u64,
    stashed: u64,
}

struct FileLog {
    file: File,
    durable_len: u64,
    /// What was there before each unsynced write or truncation, oldest first.
    undo: Vec<Old>,
}

/// Bytes a change replaced: kept as they were, or (the preallocated tails of segments) as a
/// count of zeros.
enum Old {
    Bytes(u64, Vec<u8>),
    Zeros(u64, u64),
}

/// Undo is read and kept in pieces of this size, so a zeroed region costs no memory.
const PIECE: u64 = 1 << 20;

struct DirOp {
    seq: u64,
    /// The directory whose fsync makes this change durable.
    dir: PathBuf,
    kind: DirOpKind,
}

enum DirOpKind {
    Create(PathBuf),
    Mkdir(PathBuf),
    Rename { from: PathBuf, to: PathBuf, replaced: Option<PathBuf> },
    Remove { path: PathBuf, stash: PathBuf },
}

fn powered_off() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn key(file: &File) -> io::Result<(u64, u64)> {
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

impl PowerCutEngine {
    /// Wraps `inner`; `stash` (created if missing, on the same filesystem as the data) keeps
    /// removed files until their removal is durable.
    pub fn new(inner: Arc<dyn IoEngine>, stash: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(stash)?;
        Ok(Self { inner, stash: stash.to_path_buf(), off: RwLock::new(false), state: Mutex::default() })
    }

    fn power(&self) -> io::Result<RwLockReadGuard<'_, bool>> {
        let g = self.off.read().unwrap_or_else(|e| e.into_inner());
        if *g { Err(powered_off()) } else { Ok(g) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Switches the power off: waits for calls in flight, then fails every later one.
    pub fn cut(&self) {
        *self.off.write().unwrap_or_else(|e| e.into_inner()) = true;
    }

    /// Whether [`PowerCutEngine::cut`] has happened.
    pub fn is_off(&self) -> bool {
        *self.off.read().unwrap_or_else(|e| e.into_inner())
    }

    /// After a cut, and once nothing uses the files any more: puts the disk back to what was
    /// durable. Files first (through their descriptors), then directory changes, newest first.
    pub fn restore(&self) -> io::Result<CutReport> {
        assert!(self.is_off(), "restore only after a cut");
        let mut st = self.state();
        let mut report = CutReport::default();
        for log in st.files.values_mut() {
            let len = log.file.metadata()?.len();
            if log.undo.is_empty() && len == log.durable_len {
                continue;
            }
            for old in log.undo.drain(..).rev() {
                match old {
                    Old::Bytes(off, bytes) => log.file.write_all_at(&bytes, off)?,
                    Old::Zeros(off, n) => log.file.write_all_at(&vec![0u8; n as usize], off)?,
                }
            }
            log.file.set_len(log.durable_len)?;
            report.files_rolled_back += 1;
        }
        let ignore_missing = |r: io::Result<()>| match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        for op in st.journal.drain(..).rev() {
            report.entries_undone += 1;
            match op.kind {
                DirOpKind::Create(p) => ignore_missing(std::fs::remove_file(&p))?,
                DirOpKind::Mkdir(p) => ignore_missing(std::fs::remove_dir_all(&p))?,
                DirOpKind::Rename { from, to, replaced } => {
                    ignore_missing(std::fs::rename(&to, &from))?;
                    if let Some(s) = replaced {
                        std::fs::rename(&s, &to)?;
                    }
                }
                DirOpKind::Remove { path, stash } => {
                    if path.parent().is_some_and(Path::is_dir) {
                        std::fs::rename(&stash, &path)?;
                    }
                }
            }
        }
        st.files.clear();
        drop(st);
        std::fs::remove_dir_all(&self.stash)?;
        std::fs::create_dir_all(&self.stash)?;
        Ok(report)
    }

    /// The log of `file`, started now (everything there now counts as durable) if it is new.
    fn log<'a>(st: &'a mut State, file: &File) -> io::Result<&'a mut FileLog> {
        Ok(match st.files.entry(key(file)?) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                let durable_len = file.metadata()?.len();
                v.insert(FileLog { file: file.try_clone()?, durable_len, undo: Vec::new() })
            }
        })
    }

    /// Saves the bytes in `[off, off + len)` that are inside the durable length.
    fn save(&self, file: &File, off: u64, len: u64) -> io::Result<()> {
        let mut st = self.state();
        let log = Self::log(&mut st, file)?;
        let end = (off + len).min(log.durable_len);
        let mut at = off;
        while at < end {
            let mut old = vec![0u8; (end - at).min(PIECE) as usize];
            let n = read_up_to(file, &mut old, at)?;
            if n == 0 {
                break;
            }
            old.truncate(n);
            log.undo.push(if old.iter().all(|&b| b == 0) { Old::Zeros(at, n as u64) } else { Old::Bytes(at, old) });
            at += n as u64;
        }
        Ok(())
    }

    /// A sync of `file` succeeded: what it held when the sync started is durable.
    fn synced(&self, file: &File, undo_before: usize, len_before: u64) -> io::Result<()> {
        let mut st = self.state();
        let k = key(file)?;
        if let Some(log) = st.files.get_mut(&k) {
            log.undo.drain(..undo_before.min(log.undo.len()));
            log.durable_len = len_before;
            if log.undo.is_empty() && file.metadata()?.len() == len_before {
                st.files.remove(&k);
            }
        }
        Ok(())
    }

    /// Runs `sync` (which may also write up to `end`) and records what it made durable.
    fn sync_with(&self, file: &File, end: u64, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let undo_before = {
            let mut st = self.state();
            Self::log(&mut st, file)?.undo.len()
        };
        let len_before = file.metadata()?.len().max(end);
        sync()?;
        self.synced(file, undo_before, len_before)
    }

    fn journal(&self, dir: PathBuf, kind: DirOpKind) {
        let mut st = self.state();
        st.seq += 1;
        let seq = st.seq;
        st.journal.push(DirOp { seq, dir, kind });
    }

    /// Hard-links `path` into the stash (copying if linking fails) and returns the stash path.
    fn stash(&self, path: &Path) -> io::Result<PathBuf> {
        let n = {
            let mut st = self.state();
            st.stashed += 1;
            st.stashed
        };
        let to = self.stash.join(format!("{n:08}"));
        if std::fs::hard_link(path, &to).is_err() {
            std::fs::copy(path, &to)?;
        }
        Ok(to)
    }
}

fn read_up_to(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], off + n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl IoEngine for PowerCutEngine {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn write_batch(&self, file: &File, ops: &[WriteOp], sync: bool) -> io::Result<()> {
        let _on = self.power()?;
        for op in ops {
            self.save(file, op.offset, op.len())?;
        }
        if !sync {
            return self.inner.write_batch(file, ops, false);
        }
        let end = ops.iter().filter(|o| !o.is_empty()).map(|o| o.offset + o.len()).max().unwrap_or(0);
        self.sync_with(file, end, || self.inner.write_batch(file, ops, true))
    }

    fn sync(&self, file: &File) -> io::Result<()> {
        let _on = self.power()?;
        self.sync_with(file, 0, || self.inner.sync(file))
    }

    fn sync_all(&self, file: &File) -> io::Result<()> {
        let _on = self.power()?;
        self.sync_with(file, 0, || self.inner.sync_all(file))
    }

    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        let _on = self.power()?;
        let cur = file.metadata()?.len();
        if len < cur {
            self.save(file, len, cur - len)?;
        } else {
            Self::log(&mut self.state(), file)?;
        }
        self.inner.set_len(file, len)
    }

    fn create_new(&self, path: &Path) -> io::Result<File> {
        let _on = self.power()?;
        let f = self.inner.create_new(path)?;
        let mut st = self.state();
        Self::log(&mut st, &f)?.durable_len = 0;
        drop(st);
        self.journal(parent(path), DirOpKind::Create(path.to_path_buf()));
        Ok(f)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _on = self.power()?;
        let replaced = if to.symlink_metadata().is_ok() { Some(self.stash(to)?) } else { None };
        if let Err(e) = self.inner.rename(from, to) {
            if let Some(s) = replaced {
                let _ = std::fs::remove_file(s);
            }
            return Err(e);
        }
        let kind = DirOpKind::Rename { from: from.to_path_buf(), to: to.to_path_buf(), replaced };
        self.journal(parent(to), kind);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let _on = self.power()?;
        let stash = self.stash(path)?;
        if let Err(e) = self.inner.remove_file(path) {
            let _ = std::fs::remove_file(stash);
            return Err(e);
        }
        self.journal(parent(path), DirOpKind::Remove { path: path.to_path_buf(), stash });
        Ok(())
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let _on = self.power()?;
        let missing: Vec<&Path> = dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).collect();
        self.inner.create_dir_all(dir)?;
        for d in missing.into_iter().rev() {
            self.journal(parent(d), DirOpKind::Mkdir(d.to_path_buf()));
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let _on = self.power()?;
        let before = self.state().seq;
        self.inner.sync_dir(dir)?;
        let mut st = self.state();
        let mut kept = Vec::with_capacity(st.journal.len());
        for op in st.journal.drain(..) {
            if op.seq > before || op.dir != dir {
                kept.push(op);
            } else if let DirOpKind::Remove { stash, .. } | DirOpKind::Rename { replaced: Some(stash), .. } = &op.kind {
                let _ = std::fs::remove_file(stash);
            }
        }
        st.journal = kept;
        Ok(())
    }
}

#[cfg(test)]
#[path = "powercut_tests.rs"]
mod tests;
