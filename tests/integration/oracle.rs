//! What the crash and power-loss loops remember of their clients' answers, and the seeded
//! random numbers both draw their timing from.

use std::collections::{HashMap, HashSet};

/// What the clients were told.
#[derive(Default)]
pub struct Oracle {
    /// Uploads answered 200 and not deleted since: id → SHA-256.
    pub acked: HashMap<String, String>,
    /// Deletes answered 200.
    pub deleted: HashSet<String>,
    /// Uploads refused with a definite answer (not 200): never visible as uploaded.
    pub refused: HashSet<String>,
    /// Uploads whose answer never arrived: either outcome, bytes intact. id → SHA-256.
    pub unknown: HashMap<String, String>,
    /// Deletes whose answer never arrived.
    pub delete_unknown: HashSet<String>,
    /// Operations attempted.
    pub ops: u64,
}

impl Oracle {
    /// Records a PUT's answer (`None`: it never arrived); returns whether one arrived.
    pub fn put_answered(&mut self, id: String, sha: String, status: Option<u16>) -> bool {
        match status {
            Some(200) => {
                self.acked.insert(id, sha);
            }
            Some(_) => {
                self.refused.insert(id);
            }
            None => {
                self.unknown.insert(id, sha);
            }
        }
        status.is_some()
    }
}

/// The seeded generator every schedule draws from.
pub use attachd::xorshift::XorShift64 as Rng;
