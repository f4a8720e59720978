//! The operator's maintenance operations, over the backend's [`Housekeeping`]: fsck, backups,
//! and the refusal to serve after an interrupted repair.
//!
//! Every one of them, and every cleanup run, holds the service's maintenance lock, so they
//! never overlap: a backup never races a compaction that would remove a file between its
//! checkpoint and its copy, and fsck hashes bytes that stay where the records say. Backups go
//! to `<storage.backup_dir>/<name>`, never anywhere else: the admin API names a backup, it
//! does not choose a path; the directory is created here, empty, and must not exist yet.
//!
//! [`Housekeeping`]: crate::engine::Housekeeping

use std::sync::MutexGuard;

use crate::engine::{BackupReport, FsckReport};

use super::{Result, Service, ServiceError};

/// Whether `name` can name a backup: a plain file name, so it can never leave the backup dir.
pub fn valid_backup_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Service {
    /// Holds the maintenance lock (cleanup, fsck and backups run one at a time).
    pub(crate) fn maintenance_lock(&self) -> MutexGuard<'_, ()> {
        self.maintenance.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks everything; with `repair`, fixes what can be fixed (daemon stopped).
    pub fn fsck(&self, repair: bool) -> Result<FsckReport> {
        let _one = self.maintenance_lock();
        Ok(self.housekeeping.fsck(repair)?)
    }

    /// Refuses work that acts on counters (serving, cleanup) while a repair is unfinished:
    /// with usage at zero quotas would not hold, and with container counters at zero cleanup
    /// would take live segments for empty ones.
    pub fn refuse_if_repair_interrupted(&self) -> Result<()> {
        if self.housekeeping.repair_interrupted()? {
            return Err(ServiceError::Internal(
                "an `attachd fsck --repair` was interrupted; run it again to completion first".into(),
            ));
        }
        Ok(())
    }

    /// Writes a backup to `<backup_dir>/<name>` (which must not exist).
    pub fn backup(&self, name: &str) -> Result<BackupReport> {
        if self.cfg.backup_dir.as_os_str().is_empty() {
            return Err(ServiceError::Forbidden("backups are disabled (storage.backup_dir is empty)"));
        }
        if !valid_backup_name(name) {
            return Err(ServiceError::BadParameter(
                "name must be 1-128 letters, digits, '.', '_' or '-', not starting with '.'".into(),
            ));
        }
        let dest = self.cfg.backup_dir.join(name);
        let _one = self.maintenance_lock();
        let made = std::fs::create_dir_all(&self.cfg.backup_dir).and_then(|()| std::fs::create_dir(&dest));
        match made {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ServiceError::Conflict(format!("backup {name} already exists")));
            }
            Err(e) => return Err(ServiceError::Internal(format!("create {}: {e}", dest.display()))),
            Ok(()) => {}
        }
        Ok(self.housekeeping.backup(&dest)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_cannot_leave_the_backup_dir() {
        for ok in ["2026-12-02", "nightly_1", "a.b"] {
            assert!(valid_backup_name(ok), "{ok}");
        }
        for bad in ["", "..", ".hidden", "../etc", "a/b", "/abs", "a\\b", "x y", &"n".repeat(129)] {
            assert!(!valid_backup_name(bad), "{bad}");
        }
    }
}
