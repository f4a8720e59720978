//! The metrics sampler: point-in-time gauges refreshed every few seconds — the backend's
//! (segments, live and dead bytes, disk free) and the service's (pending reservations,
//! uploads running, memory held by bodies).

use std::sync::Arc;

use crate::service::Service;

use super::Job;

/// Samples gauges.
pub struct Sampler {
    /// The service.
    pub service: Arc<Service>,
}

impl Job for Sampler {
    fn name(&self) -> &'static str {
        "sampler"
    }

    fn run_once(&self) -> serde_json::Value {
        let svc = &self.service;
        let mut report = svc.housekeeping().sample();
        // The in-memory totals: no scan of the expiry rows, however many there are.
        let pending = svc.catalog().pending(None).count as usize;
        crate::metrics::sample(pending, svc.uploads_in_progress());
        if let Ok(n) = svc.scan_backlog() {
            crate::metrics::scan_queue(n);
            report["scan_queue"] = n.into();
        }
        let (up, down) = svc.memory_in_use();
        crate::metrics::memory_in_use(up, down);
        report["pending"] = pending.into();
        report
    }
}
