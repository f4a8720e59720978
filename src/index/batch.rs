//! A batch of index changes that commits atomically.
//!
//! Column-family modules add their typed `put_…`/`delete_…` methods to [`Batch`] in their own
//! files, so each key layout is encoded in exactly one place. Every commit passes through an
//! optional [`CommitHook`] (none in production) so the power-loss test can tell batches that
//! reached a synced WAL from those that did not.

use rocksdb::{WriteBatch, WriteOptions};

use super::{Index, IndexError};

/// Sees every batch commit. Production installs none; the power-loss simulation
/// ([`super::replay::CommitLog`]) records each batch and whether its WAL was synced.
pub trait CommitHook: Send + Sync + 'static {
    /// Wraps one commit: `write` performs it. The hook may refuse (returning an error without
    /// calling `write`) or record the batch (`data`, its serialized form) once `write` succeeded.
    fn commit(
        &self,
        data: &[u8],
        sync: bool,
        write: &mut dyn FnMut() -> Result<(), IndexError>,
    ) -> Result<(), IndexError>;
}

/// Index changes that commit together or not at all.
pub struct Batch<'a> {
    pub(crate) index: &'a Index,
    /// Created at the first write, so a recording batch never allocates one.
    wb: Option<WriteBatch>,
    /// Every `put` as (family, key, value), in order: lets `derived.rs` ask the column-family
    /// modules which rows a record implies without encoding any key layout twice.
    /// Only `Some` for batches made with [`Batch::recording`]; never committed.
    pub(crate) recorded: Option<Vec<super::derived::Row>>,
    /// Counter values this batch will write, so later changes in it build on them.
    pub(crate) staged: std::collections::HashMap<Vec<u8>, super::counter::Counter>,
    /// Changes to the pending-reservation totals, applied when the batch commits.
    pub(crate) pending: Vec<super::pending::PendingDelta>,
    /// Whether the batch clears every `expiry` row (the totals restart from zero).
    pub(crate) pending_reset: bool,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(index: &'a Index) -> Self {
        Self { index, wb: None, recorded: None, staged: Default::default(), pending: Vec::new(), pending_reset: false }
    }

    /// A batch that also records the (family, key) of each put; used to derive rows, never
    /// committed.
    pub(crate) fn recording(index: &'a Index) -> Self {
        Self { recorded: Some(Vec::new()), ..Self::new(index) }
    }

    /// Number of operations queued.
    pub fn len(&self) -> usize {
        self.wb.as_ref().map_or(0, WriteBatch::len)
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.wb.as_ref().is_none_or(WriteBatch::is_empty)
    }

    /// Commits. With `sync`, the WAL is fsynced before this returns (used for everything a client
    /// is told is durable); without, the write survives a process crash but not power loss.
    pub fn commit(mut self, sync: bool) -> Result<(), IndexError> {
        let wb = self.wb.take().unwrap_or_default();
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        match self.index.hook.as_ref() {
            None => self.index.db.write_opt(wb, &wo)?,
            Some(hook) => {
                let data = wb.data().to_vec();
                let (db, mut wb) = (&self.index.db, Some(wb));
                hook.commit(&data, sync, &mut || Ok(db.write_opt(wb.take().expect("a batch is written once"), &wo)?))?;
            }
        }
        if self.pending_reset {
            self.index.pending.reset();
        }
        self.index.pending.apply(&self.pending);
        Ok(())
    }

    pub(crate) fn put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) {
        if let Some(r) = self.recorded.as_mut() {
            r.push(super::derived::Row { cf, key: key.to_vec(), value: value.to_vec() });
            return;
        }
        let h = self.index.cf(cf);
        self.wb().put_cf(h, key, value);
    }

    pub(crate) fn delete(&mut self, cf: &'static str, key: &[u8]) {
        let h = self.index.cf(cf);
        self.wb().delete_cf(h, key);
    }

    pub(crate) fn merge(&mut self, cf: &'static str, key: &[u8], operand: &[u8]) {
        let h = self.index.cf(cf);
        self.wb().merge_cf(h, key, operand);
    }

    pub(crate) fn wb(&mut self) -> &mut WriteBatch {
        self.wb.get_or_insert_with(WriteBatch::default)
    }
}
