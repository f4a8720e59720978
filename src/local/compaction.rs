//! Compaction, the local backend's job beside the segments: reclaim the dead bytes of sealed
//! segments.
//!
//! For each sealed segment whose live bytes (index `segments` counter) fall below
//! `compaction_live_ratio` of its used bytes: every record the index still points at is read
//! (verified) and re-appended through the group committer, which re-checks under the record's
//! lock that it still points at the old place and re-points it in the same synced batch that
//! adjusts both segments' counters. Uploads and downloads carry on meanwhile. The old file is
//! removed by a job on the committer queue, after every batch that wrote into it has committed
//! and only if its live count is zero; a reader that finds it gone follows the moved record.
//! Before asking for the removal, every record in the file is looked up: a segment the index
//! still points into is kept whatever its counter says (counters are derived state).
//! Copying is throttled to `compaction_bytes_per_sec`. A record that does not verify is left
//! where it is (so is its segment) and logged; the pass goes on with the others.

use std::time::{Duration, Instant};

use crate::engine::{BlobResult, CompactionReport};
use crate::index::prelude::*;
use crate::model::Location;
use crate::store::format::FILE_HEADER_LEN;
use crate::store::{AppendItem, SegmentState};

use super::LocalBackend;

impl LocalBackend {
    /// One pass over every sealed segment.
    pub(super) fn compact_segments(&self) -> BlobResult<CompactionReport> {
        let started = Instant::now();
        let ratio = self.cfg.compaction_live_ratio;
        let mut report = CompactionReport::default();
        for seg in self.store.segments.list() {
            if seg.state != SegmentState::Sealed {
                continue;
            }
            let used = seg.used.saturating_sub(FILE_HEADER_LEN as u64);
            let live = self.index.segment_live(seg.id)?;
            if live.count > 0 && (live.bytes_u64() as f64) >= ratio * used as f64 {
                continue;
            }
            if live.count > 0 {
                report.records_moved += self.move_live_records(seg.id)?;
            }
            // The live counter is derived state (an interrupted `fsck --repair` leaves it at
            // zero, a bug could too), so it is never the only witness.
            if self.still_referenced(seg.id)? {
                continue;
            }
            // Removal goes through the committer: it re-checks the live count after every batch
            // that could have written into this segment has committed.
            if self.committer.remove_segment_blocking(seg.id)? {
                let size = seg.used;
                report.segments_removed += 1;
                report.bytes_reclaimed += size;
                tracing::info!(segment = %seg.id, bytes = size, "compacted segment removed");
            }
        }
        crate::metrics::compaction(report.bytes_reclaimed, started.elapsed());
        Ok(report)
    }

    /// Whether a record still points into `seg`: every record in the file is looked up. Walked
    /// here, on the compaction thread, not by the committer (it would hold up every group
    /// commit); a sealed segment gains no records, so the answer holds until the removal job.
    /// A segment whose records cannot be listed is kept.
    fn still_referenced(&self, seg: crate::ids::SegmentId) -> BlobResult<bool> {
        let headers = match self.store.segments.record_headers(seg) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(segment = %seg, error = %e, "cannot list a segment's records; keeping it");
                return Ok(true);
            }
        };
        for (offset, h) in headers {
            if self.index.record(h.id)?.is_some_and(|r| r.location == Some(Location::Segment { segment: seg, offset }))
            {
                tracing::error!(segment = %seg, attachment = %h.id, "segment counter says empty but a record points into it; \
                    keeping the segment (run `attachd fsck --repair`)");
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn move_live_records(&self, seg: crate::ids::SegmentId) -> BlobResult<u64> {
        let started = Instant::now();
        let mut copied = 0u64;
        let mut moved = 0u64;
        // Damage in one segment must not stop compaction of every other one: a segment whose
        // records cannot be listed, or a record that does not verify, is left where it is (its
        // live count keeps the file) and reported, for fsck and an operator.
        let headers = match self.store.segments.record_headers(seg) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(segment = %seg, error = %e, "cannot list the records of a segment; not compacting it");
                return Ok(0);
            }
        };
        for (offset, h) in headers {
            let Some(rec) = self.index.record(h.id)? else {
                continue;
            };
            if rec.location != Some(Location::Segment { segment: seg, offset }) {
                continue; // a dead record
            }
            let payload = match self.store.segments.read(seg, offset, h.id, h.len) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(segment = %seg, attachment = %h.id, error = %e, "a live record does not verify; left in place");
                    continue;
                }
            };
            let item = AppendItem { id: h.id, sha256: h.sha256, crc: h.payload_crc, payload: vec![payload] };
            if self.committer.relocate_blocking(h.id, (seg, offset), item)? {
                moved += 1;
            }
            copied += h.record_len();
            throttle(copied, self.cfg.compaction_bytes_per_sec, started);
        }
        Ok(moved)
    }
}

/// Sleeps long enough that `bytes` moved since `started` stay under `per_sec`.
fn throttle(bytes: u64, per_sec: u64, started: Instant) {
    let due = Duration::from_secs_f64(bytes as f64 / per_sec.max(1) as f64);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        std::thread::sleep(wait);
    }
}
