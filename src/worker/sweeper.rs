//! The reservation sweeper: reservations past their `expires_at` with no PUT running are
//! discarded, releasing their quota (the reference only did this daily, after 24 h).

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
            let due = self
                .service
                .index()
                .expired_reservations(Timestamp::now(), 1000)?;
            let batch = due.len();
            for (_, id) in due {
                if self.service.uploads.contains(&id) {
                    continue; // started in time: let it finish
                }
                if self.service.discard_reservation_blocking(id)? {
                    released += 1;
                }
            }
            if batch < 1000 {
                break;
            }
        }
        Ok(released)
    }
}

impl Job for ReservationSweeper {
    fn name(&self) -> &'static str {
        "reservation_sweeper"
    }

    fn run_once(&self) -> serde_json::Value {
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
