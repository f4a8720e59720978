//! Column family `outbox`: notices owed to an outside system (a project's webhook), written
//! in the same batch as the change they announce, so a notice is never lost to a crash and
//! never announces a change that did not commit.
//!
//! ```text
//! key:    0                  8                24
//!         | queued_at µs (BE) | attachment id |
//! value:  0         1         2             18
//!         | version | event   | project id  |
//! ```
//! `version` is 1; `event` is 1 processed (clean or not scanned), 2 infected, 3 failed. The
//! delivery worker reads from the start and deletes a row once the notice was delivered (or
//! can no longer be: the project has no webhook); a damaged row is skipped. Rows are not
//! derived from records: fsck leaves them alone.

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, ProjectId};
use crate::model::{FileEvent, Notice};

use super::expiry::key;
use super::{Batch, Index, IndexError};

/// Column family name.
pub const CF: &str = "outbox";

const VERSION: u8 = 1;

fn event_byte(e: FileEvent) -> u8 {
    match e {
        FileEvent::Processed => 1,
        FileEvent::Infected => 2,
        FileEvent::Failed => 3,
    }
}

/// Decodes one row (pure; a damaged row is `Corrupt`, never a panic).
pub fn decode(k: &[u8], v: &[u8]) -> Result<Notice, IndexError> {
    let corrupt = |what: &str| IndexError::Corrupt { cf: CF, what: what.into() };
    let at =
        Timestamp(u64::from_be_bytes(k.get(..8).and_then(|b| b.try_into().ok()).ok_or_else(|| corrupt("short key"))?));
    let file = AttachmentId::from_slice(k.get(8..).unwrap_or(&[])).ok_or_else(|| corrupt("short key"))?;
    if k.len() != 24 || v.len() != 18 || v[0] != VERSION {
        return Err(corrupt("not a version-1 notice"));
    }
    let event = match v[1] {
        1 => FileEvent::Processed,
        2 => FileEvent::Infected,
        3 => FileEvent::Failed,
        _ => return Err(corrupt("unknown event")),
    };
    let project = ProjectId::from_slice(&v[2..]).ok_or_else(|| corrupt("short value"))?;
    Ok(Notice { at, file, project, event })
}

impl Index {
    /// Up to `limit` notices, oldest first. A row that does not decode is skipped (and
    /// logged), so one damaged notice never stops the others.
    pub fn notices(&self, limit: usize) -> Result<Vec<Notice>, IndexError> {
        let mut out = Vec::new();
        for r in self.scan_prefix(CF, Vec::new(), &[]) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = r?;
            match decode(&k, &v) {
                Ok(n) => out.push(n),
                Err(e) => tracing::warn!(key = %hex::encode(&k), error = %e, "skipping a damaged outbox row"),
            }
        }
        Ok(out)
    }
}

impl Batch<'_> {
    /// Queues `n`.
    pub fn put_notice(&mut self, n: &Notice) {
        let mut v = [0u8; 18];
        v[0] = VERSION;
        v[1] = event_byte(n.event);
        v[2..].copy_from_slice(n.project.as_bytes());
        self.put(CF, &key(n.at, n.file), &v);
    }

    /// Removes `n` (delivered).
    pub fn delete_notice(&mut self, n: &Notice) {
        self.delete(CF, &key(n.at, n.file));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn notices_round_trip_in_order_and_a_damaged_row_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(dir.path()).unwrap();
        let n = |at: u64, event| Notice {
            at: Timestamp(at),
            file: AttachmentId::random(),
            project: ProjectId::random(),
            event,
        };
        let (late, early) = (n(20, FileEvent::Infected), n(10, FileEvent::Processed));
        let mut b = index.batch();
        b.put_notice(&late);
        b.put_notice(&early);
        b.put(CF, &key(Timestamp(15), AttachmentId::random()), b"\x09garbage");
        b.commit(true).unwrap();
        assert_eq!(index.notices(10).unwrap(), vec![early, late]);
        let mut b = index.batch();
        b.delete_notice(&early);
        b.commit(true).unwrap();
        assert_eq!(index.notices(10).unwrap(), vec![late]);
    }

    proptest! {
        #[test]
        fn arbitrary_rows_decode_or_fail_cleanly(k in proptest::collection::vec(any::<u8>(), 0..40), v in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode(&k, &v);
        }
    }
}
