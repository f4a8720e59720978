//! The reservation sweeper: reservations past their `expires_at` with no PUT running are
//! discarded, releasing their quota (the reference only did this daily, after 24 h); and
//! files past their removal deadline (ephemeral files) are removed.

use std::sync::Arc;

use serde_json::json;

use crate::clock::Timestamp;
use crate::ids::AttachmentId;
use crate::service::Service;
use crate::service::ServiceError;

use super::Job;

/// Releases lapsed reservations.
pub struct ReservationSweeper {
    /// The service.
    pub service: Arc<Service>,
}

impl ReservationSweeper {
    /// Discards every lapsed reservation not being uploaded; returns how many.
    pub fn sweep(&self) -> Result<u64, ServiceError> {
        let svc = &self.service;
        // Skips reservations whose PUT started in time; they finish or fail on their own.
        drain(|now| Ok(svc.catalog().lapsed(now, BATCH)?), |id, now| svc.release_lapsed_blocking(id, now))
    }

    /// Removes every file whose removal deadline passed (not one being uploaded); returns how
    /// many.
    pub fn expire_ephemeral(&self) -> Result<u64, ServiceError> {
        let svc = &self.service;
        drain(|now| Ok(svc.catalog().ephemeral_due(now, BATCH)?), |id, now| svc.remove_ephemeral_blocking(id, now))
    }
}

/// Entries read per batch.
const BATCH: usize = 1000;

/// Applies `act` to every entry `due` lists, a batch at a time, until a batch is short or
/// changes nothing (a full batch of entries skipped for a running upload would be read
/// forever); returns how many `act` removed.
fn drain(
    due: impl Fn(Timestamp) -> Result<Vec<(Timestamp, AttachmentId)>, ServiceError>,
    act: impl Fn(AttachmentId, Timestamp) -> Result<bool, ServiceError>,
) -> Result<u64, ServiceError> {
    let mut total = 0u64;
    loop {
        let now = Timestamp::now();
        let batch = due(now)?;
        let n = batch.len();
        let mut done = 0;
        for (_, id) in batch {
            if act(id, now)? {
                done += 1;
            }
        }
        total += done;
        if n < BATCH || done == 0 {
            return Ok(total);
        }
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
