//! Column family `usage`: bytes and file counts per project and per project + end user.
//!
//! ```text
//! key:    0     1            17
//!         | 'p' | project id |                         project total
//!         | 'u' | project id | user id (UTF-8, 1–255) |  one end user's share
//! value:  counter (bytes i64 LE, count i64 LE), written whole (see below)
//! ```
//! Counts every reservation that is not soft-deleted, uploaded or not, by declared size (as the
//! reference does). Changes are written in the same batch as the record change that causes
//! them, as whole values (read under the project's quota lock, so concurrent writers never lose
//! an update): the reserve path reads these counters on every request, and a long tail of merge
//! operands would make each read walk all of them. Values written as merge operands by older
//! versions are still read correctly (the merge operator stays registered).

use crate::ids::{EndUserId, ProjectId};

use super::counter::{Counter, CounterCodec};
use super::{Batch, IndexError, Reads};

/// Column family name.
pub const CF: &str = "usage";

fn project_key(p: &ProjectId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(b'p');
    k.extend_from_slice(p.as_bytes());
    k
}

fn user_key(p: &ProjectId, u: &EndUserId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17 + u.0.len());
    k.push(b'u');
    k.extend_from_slice(p.as_bytes());
    k.extend_from_slice(u.0.as_bytes());
    k
}

/// Reads of the `usage` family, live or from a [`super::Snapshot`].
pub trait UsageReads: Reads {
    /// One counter by raw key (zero if absent).
    fn counter(&self, key: &[u8]) -> Result<Counter, IndexError> {
        match self.get_cf(CF, key)? {
            None => Ok(Counter::default()),
            Some(v) => Counter::decode(&v).ok_or(IndexError::Corrupt { cf: CF, what: "counter".into() }),
        }
    }

    /// A project's usage.
    fn project_usage(&self, p: &ProjectId) -> Result<Counter, IndexError> {
        self.counter(&project_key(p))
    }

    /// One end user's usage within a project.
    fn user_usage(&self, p: &ProjectId, u: &EndUserId) -> Result<Counter, IndexError> {
        self.counter(&user_key(p, u))
    }

    /// Every counter: `(project, None)` for project totals, `(project, Some(user))` for users.
    fn all_usage(&self) -> Result<Vec<(ProjectId, Option<EndUserId>, Counter)>, IndexError> {
        let mut out = Vec::new();
        for r in self.scan_prefix(CF, Vec::new(), &[]) {
            let (k, v) = r?;
            let c = Counter::decode(&v).ok_or(IndexError::Corrupt { cf: CF, what: "counter".into() })?;
            let p = ProjectId::from_slice(k.get(1..).unwrap_or(&[]))
                .ok_or(IndexError::Corrupt { cf: CF, what: "short key".into() })?;
            let user = match k[0] {
                b'u' => Some(EndUserId(String::from_utf8_lossy(&k[17..]).into_owned())),
                _ => None,
            };
            out.push((p, user, c));
        }
        Ok(out)
    }
}

impl<T: Reads + ?Sized> UsageReads for T {}

impl Batch<'_> {
    /// Adds `delta` to a project's counter (`user` None) or to one end user's. The new value
    /// is written whole (reads then cost one lookup, not a walk over merge operands), so the
    /// caller must hold the project's quota lock from here until the batch commits; several
    /// changes in one batch build on each other.
    pub(crate) fn add_usage(
        &mut self,
        p: &ProjectId,
        user: Option<&EndUserId>,
        delta: Counter,
    ) -> Result<(), IndexError> {
        let key = match user {
            Some(u) => user_key(p, u),
            None => project_key(p),
        };
        self.add_counter(key, delta.bytes, delta.count)
    }

    fn add_counter(&mut self, key: Vec<u8>, bytes: i64, count: i64) -> Result<(), IndexError> {
        let current = match self.staged.get(&key) {
            Some(c) => *c,
            None => self.index.counter(&key)?,
        };
        let next = Counter { bytes: current.bytes + bytes, count: current.count + count };
        self.put(CF, &key, &next.encode());
        self.staged.insert(key, next);
        Ok(())
    }

    /// Overwrites a counter (used only by `fsck --repair` after recomputing sums).
    pub fn set_usage(&mut self, p: &ProjectId, user: Option<&EndUserId>, c: Counter) {
        let k = match user {
            Some(u) => user_key(p, u),
            None => project_key(p),
        };
        self.put(CF, &k, &c.encode());
    }
}
