//! Power loss for the index, at the granularity of committed batches: what the power-loss test
//! uses instead of simulating RocksDB's files byte by byte.
//!
//! [`CommitLog`] is a [`CommitHook`]: it serializes commits and records each batch (its
//! serialized `WriteBatch`) with its sync flag, in WAL order. RocksDB appends every batch to one
//! write-ahead log and a synced write fsyncs the log up to and including itself, so after power
//! loss the index holds at least every batch up to the last synced one. [`CommitLog::cut`] refuses
//! every later commit; [`CommitLog::rebuild`] then builds the index a power cut could leave in
//! the worst case: a copy of the index as it was when the daemon started, plus exactly the
//! batches up to the last synced one — every unsynced batch after it is lost. Not modelled:
//! RocksDB's own files (torn WAL records, SST and MANIFEST writes, its fsync of directories),
//! which RocksDB's own test suite covers; and unsynced batches that happen to survive (a prefix
//! past the last sync can survive on a real disk; only the harshest outcome is produced here).

use std::path::Path;
use std::sync::Mutex;

use rocksdb::{WriteBatch, WriteOptions};

use super::{CommitHook, Index, IndexError};

/// Every commit since the daemon opened the index, with its sync flag.
#[derive(Default)]
pub struct CommitLog {
    state: Mutex<LogState>,
}

#[derive(Default)]
struct LogState {
    off: bool,
    batches: Vec<(Vec<u8>, bool)>,
}

/// What a rebuild kept and dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Batches replayed (everything up to the last synced one).
    pub kept: usize,
    /// Of those, batches committed with a synced WAL.
    pub synced: usize,
    /// Unsynced batches after the last synced one, lost to the cut.
    pub lost: usize,
}

impl CommitLog {
    /// An empty log, power on.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Switches the power off: commits in progress finish, later ones are refused.
    pub fn cut(&self) {
        self.state().off = true;
    }

    /// Builds at `dest` the index a power cut leaves: `base` (the index directory as it was
    /// when the daemon opened it; empty when it did not exist) plus the batches up to the last
    /// synced one. `dest` must not exist.
    pub fn rebuild(&self, base: &Path, dest: &Path) -> Result<RebuildReport, IndexError> {
        let st = self.state();
        let kept = st.batches.iter().rposition(|(_, sync)| *sync).map_or(0, |i| i + 1);
        let io = |e: std::io::Error| IndexError::Refused(format!("copy the base index: {e}"));
        if base.exists() {
            copy_dir(base, dest).map_err(io)?;
        }
        let index = Index::open(dest)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        for (data, _) in &st.batches[..kept] {
            index.db.write_opt(WriteBatch::from_data(data), &wo)?;
        }
        index.flush()?;
        let synced = st.batches[..kept].iter().filter(|(_, s)| *s).count();
        Ok(RebuildReport { kept, synced, lost: st.batches.len() - kept })
    }
}

impl CommitHook for CommitLog {
    fn commit(
        &self,
        data: &[u8],
        sync: bool,
        write: &mut dyn FnMut() -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        // Held across the write, so the recorded order is the WAL order.
        let mut st = self.state();
        if st.off {
            return Err(IndexError::Refused("the power is off".into()));
        }
        write()?;
        st.batches.push((data.to_vec(), sync));
        Ok(())
    }
}

/// Copies a directory tree (the index directory of a stopped daemon).
pub fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::index::prelude::*;
    use crate::index::records::tests::sample;

    #[test]
    fn a_rebuild_keeps_batches_up_to_the_last_synced_one() {
        let dir = tempfile::tempdir().unwrap();
        let (live, base, after) = (dir.path().join("live"), dir.path().join("base"), dir.path().join("after"));
        let first = sample();
        {
            let idx = Index::open(&live).unwrap();
            let mut b = idx.batch();
            b.put_record(&first);
            b.commit(true).unwrap();
        }
        copy_dir(&live, &base).unwrap();
        let log = Arc::new(CommitLog::new());
        let idx = Index::open_with_hook(&live, Some(log.clone())).unwrap();
        let recs: Vec<_> = (0..4).map(|_| sample()).collect();
        for (r, sync) in recs.iter().zip([false, true, false, false]) {
            let mut b = idx.batch();
            b.put_record(r);
            b.commit(sync).unwrap();
        }
        log.cut();
        let mut b = idx.batch();
        b.put_record(&sample());
        assert!(matches!(b.commit(true), Err(IndexError::Refused(_))));
        assert!(idx.record(recs[3].id).unwrap().is_some(), "the live index still has everything");
        drop(idx);
        let report = log.rebuild(&base, &after).unwrap();
        assert_eq!(report, RebuildReport { kept: 2, synced: 1, lost: 2 });
        let idx = Index::open(&after).unwrap();
        let present: Vec<bool> = recs.iter().map(|r| idx.record(r.id).unwrap().is_some()).collect();
        assert_eq!(present, [true, true, false, false], "an unsynced batch survives only behind a synced one");
        assert!(idx.record(first.id).unwrap().is_some(), "the base is kept");
    }
}
