//! The index: RocksDB column families holding everything except blob bytes.
//!
//! One module per column family, each opening with a byte diagram of its keys. Keys are
//! big-endian where they contain numbers, so byte order is numeric order (and time order for
//! timestamps). All changes go through a [`Batch`], so a record, its listing keys and the usage
//! deltas it implies commit atomically; a record changes only through [`Batch::transition`],
//! which derives those rows and deltas from the old and new state (`derived.rs`); usage counters are written whole under the project's
//! quota lock, segment counters are merge operands (`counter.rs`), so no concurrent delta is
//! lost. Reads go through [`Reads`]: the live database, or a [`Snapshot`] when several reads
//! must agree (fsck). The index never imports `store`.

mod batch;
pub mod control;
pub mod counter;
pub mod deleted;
pub mod derived;
pub mod ephemeral;
pub mod expiry;
mod export;
pub mod filters;
pub mod links;
pub mod listing;
pub mod outbox;
pub mod pending;
pub mod records;
pub mod replay;
pub mod scans;
pub mod segments;
mod transition;
pub mod usage;

use std::path::Path;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Options};

pub use batch::{Batch, CommitHook};

/// The read traits, for `use crate::index::prelude::*`.
pub mod prelude {
    pub use super::Reads;
    pub use super::derived::DerivedReads;
    pub use super::records::RecordReads;
    pub use super::segments::SegmentReads;
    pub use super::usage::UsageReads;
}

type Row = (Box<[u8]>, Box<[u8]>);

/// Where reads come from: the live database ([`Index`]) or a point-in-time [`Snapshot`] of it.
/// The reads that must agree with each other (a record, its derived rows, the counters it
/// adds to — everything fsck compares) are written once, as extension traits over this one.
pub trait Reads {
    /// The index (column family handles, batches).
    fn index(&self) -> &Index;
    /// One value.
    fn get_cf(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError>;
    /// Iterates `cf` forward from `from` while keys start with `prefix`.
    fn scan_prefix<'a>(
        &'a self,
        cf: &'static str,
        prefix: Vec<u8>,
        from: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Row, IndexError>> + 'a>;
}

/// A consistent point-in-time view of the whole index (a RocksDB snapshot): reads through it
/// see every batch committed before [`Index::snapshot`] and none after, so an online check
/// never mistakes a change landing mid-scan for an inconsistency.
pub struct Snapshot<'a> {
    index: &'a Index,
    snap: rocksdb::SnapshotWithThreadMode<'a, DB>,
}

/// Column family names, in the order `open` creates them.
pub const COLUMN_FAMILIES: [&str; 12] = [
    records::CF,
    listing::CF,
    filters::CF,
    usage::CF,
    expiry::CF,
    deleted::CF,
    segments::CF,
    links::CF,
    control::CF,
    scans::CF,
    ephemeral::CF,
    outbox::CF,
];

/// What can go wrong in the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// A stored value did not decode: the index is damaged or was written by a newer version.
    #[error("corrupt index value in {cf}: {what}")]
    Corrupt {
        /// Column family.
        cf: &'static str,
        /// What failed.
        what: String,
    },
    /// The commit hook refused the write (the simulated power is off).
    #[error("commit refused: {0}")]
    Refused(String),
}

/// The open index.
pub struct Index {
    db: DB,
    pending: pending::PendingTracker,
    hook: Option<std::sync::Arc<dyn CommitHook>>,
}

impl Index {
    /// Opens (creating if needed) the index at `path`.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        Self::open_with_hook(path, None)
    }

    /// Opens the index with a hook that sees every commit (the power-loss test).
    pub fn open_with_hook(path: &Path, hook: Option<std::sync::Arc<dyn CommitHook>>) -> Result<Self, IndexError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_keep_log_file_num(5);
        // All memtables together stay under 64 MiB (flushed sooner when they reach it): part of
        // the daemon's memory bound (docs/OPERATIONS.md, "Limits and memory").
        opts.set_db_write_buffer_size(64 << 20);
        // Writers queued behind a group commit's WAL fsync would otherwise spin (adaptive
        // yield) for the whole fsync, burning a core the HTTP side needs; they sleep instead.
        opts.set_enable_write_thread_adaptive_yield(false);
        let cfs = COLUMN_FAMILIES.iter().map(|name| {
            let mut o = Options::default();
            if *name == usage::CF || *name == segments::CF {
                o.set_merge_operator_associative("attachd_counter_add", counter::merge_add);
            }
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            ColumnFamilyDescriptor::new(*name, o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        let index = Self { db, pending: Default::default(), hook };
        index.pending.apply(&index.pending_rows()?);
        Ok(index)
    }

    pub(crate) fn cf(&self, name: &'static str) -> &ColumnFamily {
        self.db.cf_handle(name).expect("every column family is created at open")
    }

    /// Pending reservations per project (see `pending`).
    pub fn pending(&self) -> &pending::PendingTracker {
        &self.pending
    }

    /// Starts a batch of changes.
    pub fn batch(&self) -> Batch<'_> {
        Batch::new(self)
    }

    /// Flushes memtables to SST files (used before a checkpoint and at shutdown).
    pub fn flush(&self) -> Result<(), IndexError> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name))?;
        }
        self.db.flush_wal(true)?;
        Ok(())
    }

    /// Writes a consistent RocksDB checkpoint (hard links where possible) to `dest`, which
    /// must not exist yet.
    pub fn checkpoint(&self, dest: &Path) -> Result<(), IndexError> {
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.db)?;
        cp.create_checkpoint(dest)?;
        Ok(())
    }

    /// A consistent view of the index as of now (see [`Snapshot`]).
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot { index: self, snap: self.db.snapshot() }
    }

    /// Iterates `cf` forward from `from` while keys start with `prefix`.
    pub(crate) fn scan_prefix<'a>(
        &'a self,
        cf: &'static str,
        prefix: Vec<u8>,
        from: &[u8],
    ) -> impl Iterator<Item = Result<Row, IndexError>> + use<'a> {
        // The iterator seeks when it is created, so `from` need not outlive this call.
        let mode = rocksdb::IteratorMode::From(seek_key(&prefix, from), rocksdb::Direction::Forward);
        within_prefix(self.db.iterator_cf(self.cf(cf), mode), prefix)
    }

    pub(crate) fn get_cf(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }
}

fn seek_key<'k>(prefix: &'k [u8], from: &'k [u8]) -> &'k [u8] {
    if from < prefix { prefix } else { from }
}

fn within_prefix<'a>(
    it: rocksdb::DBIteratorWithThreadMode<'a, DB>,
    prefix: Vec<u8>,
) -> impl Iterator<Item = Result<Row, IndexError>> + use<'a> {
    it.map(|r| r.map_err(IndexError::from)).take_while(move |r| match r {
        Ok((k, _)) => k.starts_with(&prefix),
        Err(_) => true,
    })
}

impl Reads for Index {
    fn index(&self) -> &Index {
        self
    }
    fn get_cf(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        Index::get_cf(self, cf, key)
    }
    fn scan_prefix<'a>(
        &'a self,
        cf: &'static str,
        prefix: Vec<u8>,
        from: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Row, IndexError>> + 'a> {
        Box::new(Index::scan_prefix(self, cf, prefix, from))
    }
}

impl Reads for Snapshot<'_> {
    fn index(&self) -> &Index {
        self.index
    }
    fn get_cf(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(self.snap.get_cf(self.index.cf(cf), key)?)
    }
    fn scan_prefix<'a>(
        &'a self,
        cf: &'static str,
        prefix: Vec<u8>,
        from: &[u8],
    ) -> Box<dyn Iterator<Item = Result<Row, IndexError>> + 'a> {
        let mode = rocksdb::IteratorMode::From(seek_key(&prefix, from), rocksdb::Direction::Forward);
        Box::new(within_prefix(self.snap.iterator_cf(self.index.cf(cf), mode), prefix))
    }
}

#[cfg(test)]
pub(crate) fn temp_index() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().unwrap();
    let idx = Index::open(&dir.path().join("index")).unwrap();
    (dir, idx)
}

#[cfg(test)]
mod tests {
    use super::prelude::*;
    use super::records::tests::sample;
    use super::temp_index;

    /// A snapshot keeps seeing the index as it was: records, derived rows and counters changed
    /// after it was taken stay as they were through it, while live reads see the change.
    #[test]
    fn snapshot_reads_are_point_in_time() {
        let (_d, idx) = temp_index();
        let kept = sample();
        let mut b = idx.batch();
        b.transition(None, Some(&kept)).unwrap();
        b.commit(true).unwrap();

        let snap = idx.snapshot();
        // After the snapshot: the reservation is released and another one arrives.
        let mut b = idx.batch();
        b.transition(Some(&kept), None).unwrap();
        let mut newer = sample();
        newer.project_id = kept.project_id;
        b.put_record(&newer);
        b.commit(true).unwrap();

        assert_eq!(snap.record(kept.id).unwrap().map(|r| r.id), Some(kept.id));
        assert!(snap.record(newer.id).unwrap().is_none());
        assert_eq!(snap.all_records().count(), 1);
        assert!(snap.missing_rows(&kept).unwrap().is_empty());
        assert!(snap.dangling_rows().unwrap().is_empty());
        assert_eq!(snap.project_usage(&kept.project_id).unwrap().count, 1);

        assert!(idx.record(kept.id).unwrap().is_none());
        assert_eq!(idx.all_records().count(), 1);
        assert_eq!(idx.project_usage(&kept.project_id).unwrap().count, 0);
        let implied = super::derived::rows_of(&idx, &newer).len();
        assert!(implied >= 3, "listing, filter and expiry rows");
        assert_eq!(idx.missing_rows(&newer).unwrap().len(), implied, "live: the newer record has no rows yet");
    }
}
