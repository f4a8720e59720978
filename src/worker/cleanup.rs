//! The cleanup job (the reference's `attachment_cleanup`, done properly). Passes, in order:
//!   1. **soft-deleted**: attachments deleted longer ago than the grace period are hard-deleted
//!      (index first, then the standalone file; segment bytes become dead space);
//!   2. **expired reservations**: lapsed, never-uploaded reservations are released (the sweeper
//!      does this every minute too);
//!   3. **orphans**: the backend's stored bytes that no record points at, and temporary ones,
//!      once older than `orphan_grace` and not belonging to an upload in progress (the
//!      service's upload claims are the guard) — never a live upload's file, unlike the
//!      reference;
//!   4. **compaction**: the backend's (segment files, on the local backend).
//! One run at a time (the service's maintenance lock, shared with fsck and backups); runs on
//! the schedule, from `attachd cleanup` and from the admin endpoint.

use std::sync::Arc;

use serde_json::json;

use crate::clock::Timestamp;
use crate::service::{Service, ServiceError};

use super::Job;
use super::sweeper::ReservationSweeper;

/// What one run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CleanupReport {
    /// Soft-deleted attachments reclaimed.
    pub soft_deleted_removed: u64,
    /// Lapsed reservations released.
    pub expired_reservations_removed: u64,
    /// Unreferenced blob files removed.
    pub orphan_files_removed: u64,
    /// Segments compacted (live records moved, file removed).
    pub segments_compacted: u64,
    /// Records moved by compaction.
    pub records_moved: u64,
    /// Bytes freed on disk (files removed), as the filesystem counted them.
    pub bytes_reclaimed: u64,
}

/// The cleanup job.
pub struct Cleanup {
    /// The service.
    pub service: Arc<Service>,
}

impl Cleanup {
    /// A cleanup job for `service`.
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    /// Runs every pass once.
    pub fn run(&self) -> Result<CleanupReport, ServiceError> {
        let svc = &self.service;
        let _one = svc.maintenance_lock();
        let housekeeping = svc.housekeeping();
        let mut report = CleanupReport::default();
        let disk_before = housekeeping.disk_bytes();

        // 1. Soft-deleted past the grace period.
        let before = Timestamp::now().minus(svc.config().soft_delete_grace);
        loop {
            let due = svc.catalog().deleted_before(before, 1000)?;
            let n = due.len();
            for (deleted_at, id) in due {
                // Every row is consumed either way (reclaimed, or stale and dropped), so this
                // loop always progresses.
                if svc.hard_delete_blocking(deleted_at, id)?.is_some() {
                    report.soft_deleted_removed += 1;
                }
            }
            if n < 1000 {
                break;
            }
        }
        crate::metrics::cleanup_removed("soft_deleted", report.soft_deleted_removed);

        // 2. Lapsed reservations.
        report.expired_reservations_removed = ReservationSweeper { service: svc.clone() }.sweep()?;
        crate::metrics::cleanup_removed("expired_reservations", report.expired_reservations_removed);

        // 3. Orphans.
        report.orphan_files_removed = housekeeping.sweep_orphans(svc.config().orphan_grace, &svc.uploads)?;
        crate::metrics::cleanup_removed("orphans", report.orphan_files_removed);

        // 4. Compaction.
        let c = housekeeping.compact()?;
        report.segments_compacted = c.segments_removed;
        report.records_moved = c.records_moved;

        report.bytes_reclaimed = disk_before.saturating_sub(housekeeping.disk_bytes());
        Ok(report)
    }
}

impl Job for Cleanup {
    fn name(&self) -> &'static str {
        "cleanup"
    }

    fn run_once(&self) -> serde_json::Value {
        let started = std::time::Instant::now();
        match self.run() {
            Ok(r) => {
                tracing::info!(?r, elapsed_ms = started.elapsed().as_millis() as u64, "cleanup finished");
                crate::metrics::cleanup_run(true);
                json!(r)
            }
            Err(e) => {
                tracing::error!(error = %e, "cleanup failed");
                crate::metrics::cleanup_run(false);
                json!({ "error": e.to_string() })
            }
        }
    }
}
