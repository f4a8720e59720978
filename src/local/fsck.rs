//! The local backend's check (`attachd fsck`): every record against its bytes and the rows and
//! counters it implies; with `--repair` (offline), re-point records to an intact copy found in
//! the segments and rebuild every derived row and counter from the records.
//!
//! What is checked: each uploaded record's bytes (segment records: header, CRC-32C and SHA-256;
//! standalone files: size and SHA-256); that uploaded ⇔ located; the listing, filter, expiry and
//! deleted rows each record implies, and rows no record accounts for; usage counters against
//! sums recomputed from the records; segment live counters likewise; blob files and temporary
//! files no record points at; segments kept read-only after damage.
//!
//! Online, uploads, deletes and reservation expiry go on during the check, so every index read
//! of one check goes through one RocksDB snapshot: records, rows and counters are compared as of
//! a single instant and a change landing mid-scan is never reported as a mismatch. The
//! caller's maintenance lock (no cleanup or compaction meanwhile) keeps the bytes of every
//! record in that snapshot where it says they are while they are hashed. Orphan files are judged against
//! the live index, so a blob whose upload is between rename and commit can be listed; orphans
//! are informational (cleanup reclaims them only after the orphan grace).

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::engine::{BlobResult, FsckReport, Problem};
use crate::ids::{AttachmentId, EndUserId, ProjectId, SegmentId, Sha256Digest};
use crate::index::counter::Counter;
use crate::index::derived::{CounterKey, shares_of};
use crate::index::prelude::*;
use crate::model::{Attachment, Location};
use crate::store::{SegmentState, StoreError, StoredBlob};

use super::LocalBackend;

/// Control-plane marker set while `--repair` rebuilds rows and counters.
pub const REPAIR_IN_PROGRESS: &str = "repair_in_progress";

#[derive(Default)]
struct Sums {
    usage: HashMap<(ProjectId, Option<EndUserId>), Counter>,
    segments: HashMap<SegmentId, Counter>,
}

impl LocalBackend {
    /// Whether an `fsck --repair` was interrupted (its rebuilt rows and counters are partial).
    pub(super) fn repair_marker_set(&self) -> BlobResult<bool> {
        Ok(self.index.marker(REPAIR_IN_PROGRESS)?.is_some())
    }

    /// Checks everything; with `repair`, fixes what can be fixed (daemon stopped).
    pub(super) fn check_and_repair(&self, repair: bool) -> BlobResult<FsckReport> {
        let report = self.check()?;
        if !repair || report.ok {
            return Ok(report);
        }
        let repaired = self.repair(&report)?;
        let mut after = self.check()?;
        after.repaired = repaired;
        Ok(after)
    }

    fn check(&self) -> BlobResult<FsckReport> {
        let mut r = FsckReport::default();
        let mut sums = Sums::default();
        let snap = self.index.snapshot();
        for rec in snap.all_records() {
            let rec = rec?;
            r.records += 1;
            for cf in snap.missing_rows(&rec)? {
                r.row_problems.push(format!("{}: missing {cf} row", rec.id));
            }
            if rec.uploaded_at.is_some() != rec.location.is_some() {
                r.row_problems.push(format!("{}: uploaded_at and location disagree", rec.id));
            }
            for (key, share) in shares_of(&rec) {
                let sum = match key {
                    CounterKey::Usage(p, user) => sums.usage.entry((p, user)).or_default(),
                    CounterKey::Segment(s) => sums.segments.entry(s).or_default(),
                };
                sum.bytes += share.bytes;
                sum.count += share.count;
            }
            if let Some(loc) = rec.location {
                r.uploaded += 1;
                match self.verify_bytes(&rec, loc) {
                    Ok(()) => r.bytes_verified += rec.size_bytes,
                    Err(StoreError::Corrupt(what)) => {
                        r.corrupt.push(Problem { attachment_id: rec.id.to_string(), what })
                    }
                    Err(e) => r.missing.push(Problem { attachment_id: rec.id.to_string(), what: e.to_string() }),
                }
            }
        }
        for (cf, id) in snap.dangling_rows()? {
            r.row_problems.push(format!("{id}: {cf} row without a matching record"));
        }
        compare_counters(&snap, &sums, &mut r)?;
        if self.repair_marker_set()? {
            r.counter_mismatches.push("a repair was interrupted: rows and counters are incomplete".into());
        }
        self.find_orphans(&mut r)?;
        for s in self.store.segments.list() {
            if s.state == SegmentState::Damaged {
                r.damaged_segments.push(format!("segment {} (damaged after offset {})", s.id, s.used));
            }
        }
        r.ok = r.corrupt.is_empty()
            && r.missing.is_empty()
            && r.row_problems.is_empty()
            && r.counter_mismatches.is_empty()
            && r.damaged_segments.is_empty();
        Ok(r)
    }

    /// Reads and hashes an uploaded record's bytes.
    fn verify_bytes(&self, rec: &Attachment, loc: Location) -> std::result::Result<(), StoreError> {
        let mut sha = Sha256::new();
        match loc {
            Location::Segment { segment, offset } => {
                sha.update(&self.store.segments.read(segment, offset, rec.id, rec.size_bytes)?);
            }
            Location::Standalone { month, .. } => {
                let reader = self.store.blobs.open_blob(&StoredBlob { project: rec.project_id, month, id: rec.id })?;
                if reader.len() != rec.size_bytes {
                    return Err(StoreError::Corrupt(format!(
                        "file is {} bytes, record says {}",
                        reader.len(),
                        rec.size_bytes
                    )));
                }
                let mut at = 0;
                while at < reader.len() {
                    let chunk = reader.read_at(at, 1 << 20)?;
                    at += chunk.len() as u64;
                    sha.update(&chunk);
                }
            }
        }
        if Sha256Digest(sha.finalize().into()) != rec.digests.sha256 {
            return Err(StoreError::Corrupt("SHA-256 of the stored bytes differs from the record".into()));
        }
        Ok(())
    }

    fn find_orphans(&self, r: &mut FsckReport) -> BlobResult<()> {
        for (blob, path, _) in self.store.blobs.list()? {
            let referenced = match blob {
                Some(b) => self.blob_referenced(&b)?,
                None => false,
            };
            if !referenced {
                r.orphan_files.push(path.display().to_string());
            }
        }
        for (path, _) in self.store.blobs.list_tmp()? {
            r.orphan_files.push(path.display().to_string());
        }
        Ok(())
    }

    /// Offline repair: re-point damaged segment records to an intact copy, then rebuild every
    /// derived row and counter from the records.
    fn repair(&self, report: &FsckReport) -> BlobResult<Vec<String>> {
        let mut done = Vec::new();
        let broken: Vec<AttachmentId> =
            report.corrupt.iter().chain(&report.missing).filter_map(|p| p.attachment_id.parse().ok()).collect();
        if !broken.is_empty() {
            let copies = self.scan_segment_copies();
            for id in broken {
                let Some(mut rec) = self.index.record(id)? else { continue };
                if !matches!(rec.location, Some(Location::Segment { .. })) {
                    done.push(format!("{id}: standalone file is damaged or gone; nothing to repair it from"));
                    continue;
                }
                let found = copies.get(&id).into_iter().flatten().find(|(seg, off)| {
                    self.verify_bytes(&rec, Location::Segment { segment: *seg, offset: *off }).is_ok()
                });
                match found {
                    Some(&(segment, offset)) => {
                        rec.location = Some(Location::Segment { segment, offset });
                        let mut b = self.index.batch();
                        b.put_record(&rec);
                        b.commit(true)?;
                        done.push(format!("{id}: re-pointed to an intact copy in segment {segment} at {offset}"));
                    }
                    None => done.push(format!("{id}: no intact copy in any segment; downloads keep failing loudly")),
                }
            }
        }
        // Rebuild derived rows and counters from the records, in chunks. The marker is set in
        // the batch that clears them and cleared in the last one: while it is set (a repair
        // was interrupted) the counters are incomplete, so nothing may act on them — the
        // daemon and offline cleanup refuse to start until a repair completes.
        let mut b = self.index.batch();
        b.clear_derived();
        b.put_marker(REPAIR_IN_PROGRESS, &serde_json::json!(crate::clock::Timestamp::now().to_iso()));
        b.commit(true)?;
        let mut b = self.index.batch();
        let mut n = 0u64;
        for rec in self.index.all_records() {
            b.add_implied(&rec?)?;
            n += 1;
            if b.len() > 10_000 {
                std::mem::replace(&mut b, self.index.batch()).commit(true)?;
            }
        }
        b.delete_marker(REPAIR_IN_PROGRESS);
        b.commit(true)?;
        done.push(format!("rebuilt listing, filter, expiry, deleted rows and all counters from {n} records"));
        Ok(done)
    }

    /// Every record header found in any segment: id → [(segment, offset)].
    fn scan_segment_copies(&self) -> HashMap<AttachmentId, Vec<(SegmentId, u64)>> {
        let mut out: HashMap<AttachmentId, Vec<(SegmentId, u64)>> = HashMap::new();
        for s in self.store.segments.list() {
            match self.store.segments.record_headers(s.id) {
                Ok(headers) => {
                    for (off, h) in headers {
                        out.entry(h.id).or_default().push((s.id, off));
                    }
                }
                Err(e) => {
                    tracing::warn!(segment = %s.id, error = %e, "could not walk a segment while looking for copies")
                }
            }
        }
        out
    }
}

/// Usage and segment counters against the sums recomputed from the records.
fn compare_counters(index: &impl Reads, sums: &Sums, r: &mut FsckReport) -> BlobResult<()> {
    let mut stored: HashMap<(ProjectId, Option<EndUserId>), Counter> = HashMap::new();
    for (p, u, c) in index.all_usage()? {
        stored.insert((p, u), c);
    }
    let keys: std::collections::BTreeSet<_> =
        stored.keys().chain(sums.usage.keys()).map(|(p, u)| (p.to_string(), u.clone(), *p)).collect();
    for (_, u, p) in keys {
        let k = (p, u.clone());
        let (have, want) =
            (stored.get(&k).copied().unwrap_or_default(), sums.usage.get(&k).copied().unwrap_or_default());
        if have != want {
            let who = u.map(|u| format!(" user {:?}", u.0)).unwrap_or_default();
            r.counter_mismatches.push(format!(
                "usage of project {p}{who}: stored {} bytes / {} files, records sum to {} / {}",
                have.bytes, have.count, want.bytes, want.count
            ));
        }
    }
    let mut segs: BTreeMap<SegmentId, Counter> = index.segment_counters()?.into_iter().collect();
    for (s, c) in &sums.segments {
        segs.entry(*s).or_default();
        let have = index.segment_live(*s)?;
        if have != *c {
            r.counter_mismatches.push(format!(
                "segment {s}: live counter {} bytes / {} records, records sum to {} / {}",
                have.bytes, have.count, c.bytes, c.count
            ));
        }
    }
    for (s, have) in segs {
        if !sums.segments.contains_key(&s) && have != Counter::default() {
            r.counter_mismatches
                .push(format!("segment {s}: live counter {} / {} but no record lives there", have.bytes, have.count));
        }
    }
    Ok(())
}
