//! The metrics sampler: point-in-time gauges (segments, live/dead bytes, pending reservations,
//! disk free, uploads running) refreshed every few seconds.

use std::sync::Arc;

use crate::index::prelude::*;
use crate::service::Service;
use crate::store::SegmentState;
use crate::store::format::FILE_HEADER_LEN;

use super::Job;

/// Samples gauges.
pub struct Sampler {
    /// The service.
    pub service: Arc<Service>,
    /// The data directory (for free space).
    pub data_dir: std::path::PathBuf,
}

impl Job for Sampler {
    fn name(&self) -> &'static str {
        "sampler"
    }

    fn run_once(&self) -> serde_json::Value {
        let svc = &self.service;
        let segs = svc.store().segments.list();
        let (mut live, mut dead) = (0u64, 0u64);
        for s in &segs {
            let l = svc.index().segment_live(s.id).map(|c| c.bytes_u64()).unwrap_or(0);
            let used = s.used.saturating_sub(FILE_HEADER_LEN as u64);
            live += l;
            if s.state != SegmentState::Active {
                dead += used.saturating_sub(l);
            }
        }
        crate::metrics::segments(segs.len(), live, dead);
        // The in-memory totals: no scan of the expiry rows, however many there are.
        let pending = svc.catalog().pending(None).count as usize;
        crate::metrics::sample(pending, crate::store::free_bytes(&self.data_dir), svc.uploads_in_progress());
        let (up, down) = svc.memory_in_use();
        crate::metrics::memory_in_use(up, down);
        serde_json::json!({ "segments": segs.len(), "live": live, "dead": dead, "pending": pending })
    }
}
