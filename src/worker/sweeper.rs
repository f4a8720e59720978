//! The reservation sweeper: reservations past their `expires_at` with no PUT running are
//! discarded, releasing their quota (the reference only did this daily, after 24 h); and
//! files past their removal deadline (ephemeral files) are removed.

use std::sync::Arc;

use serde_json::json;

use crate::clock::Timestamp;
use crate::service::Service;

use super::Job;

/// Releases lapsed reservations.
pub struct ReservationSweeper {
    /// The service.
    pub service: Arc<Service>,
}

impl ReservationSweeper {
    /// Discards every lapsed reservation not being uploaded; returns how many.
    pub fn sweep(&self) -> Result<u64, crate::service::ServiceError> {
        let mut released = 0u64;
        loop {
            let now = Timestamp::now();
            let due = self.service.catalog().lapsed(now, 1000)?;
            let batch = due.len();
            let mut released_now = 0;
            for (_, id) in due {
                // Skips reservations whose PUT started in time; they finish or fail on their own.
                if self.service.release_lapsed_blocking(id, now)? {
                    released_now += 1;
                }
            }
            released += released_now;
            // A full batch of claimed (skipped) reservations would be scanned forever.
            if batch < 1000 || released_now == 0 {
                break;
            }
        }
        Ok(released)
    }

    /// Removes every file whose removal deadline passed (not one being uploaded); returns how
    /// many.
    pub fn expire_ephemeral(&self) -> Result<u64, crate::service::ServiceError> {
        let mut removed = 0u64;
        loop {
            let now = Timestamp::now();
            let due = self.service.catalog().ephemeral_due(now, 1000)?;
            let batch = due.len();
            let mut removed_now = 0;
            for (_, id) in due {
                if self.service.remove_ephemeral_blocking(id, now)? {
                    removed_now += 1;
                }
            }
            removed += removed_now;
            if batch < 1000 || removed_now == 0 {
                break;
            }
        }
        Ok(removed)
    }
}

impl Job for ReservationSweeper {
    fn name(&self) -> &'static str {
        "reservation_sweeper"
    }

    fn run_once(&self) -> serde_json::Value {
        let ephemeral = match self.expire_ephemeral() {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(removed = n, "removed files past their deadline");
                    crate::metrics::cleanup_removed("ephemeral", n);
                }
                json!(n)
            }
            Err(e) => {
                tracing::error!(error = %e, "ephemeral sweep failed");
                json!({ "error": e.to_string() })
            }
        };
        let mut report = self.sweep_report();
        report["ephemeral_removed"] = ephemeral;
        report
    }
}

impl ReservationSweeper {
    fn sweep_report(&self) -> serde_json::Value {
        match self.sweep() {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(released = n, "released lapsed reservations");
                    crate::metrics::cleanup_removed("expired_reservations", n);
                }
                json!({ "expired_reservations_removed": n })
            }
            Err(e) => {
                tracing::error!(error = %e, "reservation sweep failed");
                json!({ "error": e.to_string() })
            }
        }
    }
}
