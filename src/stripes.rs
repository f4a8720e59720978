//! Striped mutexes: a small fixed table of locks keyed by a 16-byte id, instead of one lock
//! per id. The local backend serialises quota checks per project and changes per record with
//! them (a shared-database backend uses the database's own locking instead), and the service
//! serialises a reserve's event-link lookup with the link endpoint.

use std::sync::{Mutex, MutexGuard};

/// Striped mutexes keyed by a 16-byte id: a small fixed table instead of one lock per id.
pub struct Stripes(Vec<Mutex<()>>);

impl Stripes {
    /// `n` stripes.
    pub fn new(n: usize) -> Self {
        Self((0..n.max(1)).map(|_| Mutex::new(())).collect())
    }

    fn slot(&self, id: &[u8; 16]) -> usize {
        let mut h = [0u8; 8];
        h.copy_from_slice(&id[8..]);
        (u64::from_le_bytes(h) % self.0.len() as u64) as usize
    }

    /// Locks the stripe of `id`.
    pub fn lock(&self, id: &[u8; 16]) -> MutexGuard<'_, ()> {
        self.0[self.slot(id)].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks the stripes of all `ids` in a fixed order (no deadlock between batches).
    pub fn lock_many<'a>(&'a self, ids: impl Iterator<Item = &'a [u8; 16]>) -> Vec<MutexGuard<'a, ()>> {
        let mut slots: Vec<usize> = ids.map(|id| self.slot(id)).collect();
        slots.sort_unstable();
        slots.dedup();
        slots.into_iter().map(|s| self.0[s].lock().unwrap_or_else(|e| e.into_inner())).collect()
    }
}
