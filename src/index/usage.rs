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

use super::counter::Counter;
use super::{AttachmentRecord, Batch, IndexError, Reads};

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
    /// Adds `sign` × (size, 1) for `rec` to its project's and (if any) its user's counters.
    /// The new values are written whole (reads then cost one lookup, not a walk over merge
    /// operands), so the caller must hold the project's quota lock from here until the batch
    /// commits; several changes in one batch build on each other.
    pub fn add_usage(&mut self, rec: &AttachmentRecord, sign: i64) -> Result<(), IndexError> {
        let (bytes, count) = (sign * rec.size_bytes as i64, sign);
        self.add_counter(project_key(&rec.project_id), bytes, count)?;
        if let Some(u) = &rec.user_id {
            self.add_counter(user_key(&rec.project_id, u), bytes, count)?;
        }
        Ok(())
    }

    /// Adds to one end user's counter only (an attachment gaining a user when it is linked).
    /// Same locking rule as [`Batch::add_usage`].
    pub fn add_user_usage(&mut self, p: &ProjectId, u: &EndUserId, bytes: i64, count: i64) -> Result<(), IndexError> {
        self.add_counter(user_key(p, u), bytes, count)
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

#[cfg(test)]
mod tests {
    use super::UsageReads;
    use crate::index::records::tests::sample;
    use crate::index::temp_index;

    #[test]
    fn deltas_add_up_per_project_and_user() {
        let (_d, idx) = temp_index();
        let a = sample();
        let mut b2 = sample();
        b2.project_id = a.project_id;
        b2.user_id = None;
        b2.size_bytes = 100;
        let mut b = idx.batch();
        b.add_usage(&a, 1).unwrap();
        b.add_usage(&b2, 1).unwrap();
        b.commit(false).unwrap();
        let p = idx.project_usage(&a.project_id).unwrap();
        assert_eq!((p.bytes, p.count), (a.size_bytes as i64 + 100, 2));
        let u = idx.user_usage(&a.project_id, a.user_id.as_ref().unwrap()).unwrap();
        assert_eq!((u.bytes, u.count), (a.size_bytes as i64, 1));
        let mut b = idx.batch();
        b.add_usage(&a, -1).unwrap();
        b.commit(false).unwrap();
        assert_eq!(idx.project_usage(&a.project_id).unwrap().bytes, 100);
        assert_eq!(idx.all_usage().unwrap().len(), 2);
    }
}
