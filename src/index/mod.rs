//! The index: RocksDB column families holding everything except blob bytes.
//!
//! One module per column family, each opening with a byte diagram of its keys. Keys are
//! big-endian where they contain numbers, so byte order is numeric order (and time order for
//! timestamps). All changes go through a [`Batch`], so a record, its listing keys and the usage
//! deltas it implies commit atomically; counters are merge operands (`counter.rs`), so deltas
//! from concurrent writers never overwrite each other. The index never imports `store`.

mod batch;
pub mod control;
pub mod counter;
pub mod deleted;
pub mod derived;
pub mod expiry;
pub mod filters;
pub mod links;
pub mod listing;
pub mod records;
pub mod segments;
pub mod usage;

use std::path::Path;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Options};

pub use batch::Batch;
pub use records::{AttachmentRecord, Location};

/// Column family names, in the order `open` creates them.
pub const COLUMN_FAMILIES: [&str; 9] =
    [records::CF, listing::CF, filters::CF, usage::CF, expiry::CF, deleted::CF, segments::CF, links::CF, control::CF];

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
}

/// The open index.
pub struct Index {
    db: DB,
}

impl Index {
    /// Opens (creating if needed) the index at `path`.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_keep_log_file_num(5);
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
        Ok(Self { db })
    }

    pub(crate) fn cf(&self, name: &'static str) -> &ColumnFamily {
        self.db.cf_handle(name).expect("every column family is created at open")
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

    /// Iterates `cf` forward from `from` while keys start with `prefix`.
    pub(crate) fn scan_prefix<'a>(
        &'a self,
        cf: &'static str,
        prefix: Vec<u8>,
        from: &[u8],
    ) -> impl Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), IndexError>> + use<'a> {
        // The iterator seeks when it is created, so `from` need not outlive this call.
        let from = if from < prefix.as_slice() { prefix.as_slice() } else { from };
        let mode = rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward);
        self.db.iterator_cf(self.cf(cf), mode).map(|r| r.map_err(IndexError::from)).take_while(move |r| match r {
            Ok((k, _)) => k.starts_with(&prefix),
            Err(_) => true,
        })
    }

    pub(crate) fn get_cf(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, IndexError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }
}

#[cfg(test)]
pub(crate) fn temp_index() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().unwrap();
    let idx = Index::open(&dir.path().join("index")).unwrap();
    (dir, idx)
}
