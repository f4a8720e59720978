//! Group commit: many uploads share one segment write, one fdatasync and one synced RocksDB batch.
//!
//! A dedicated thread takes the first queued job, then everything else already queued (up to
//! `max_commit_batch_bytes`): batches grow with load and no timer ever delays a lone upload.
//! For each batch, in this order:
//!   1. lock the record stripes of every attachment in the batch;
//!   2. re-read each record and drop jobs whose reservation changed meanwhile (deleted,
//!      already uploaded, gone) — their callers get the matching error;
//!   3. append the segment payloads (one vectored write per segment) and **fdatasync** them
//!      (standalone payloads were already synced and renamed by the uploader);
//!   4. write one RocksDB batch — records marked uploaded with their location, expiry rows
//!      removed, segment live counters raised — with a **synced WAL**;
//!   5. unlock, then answer every caller. Only now may a client hear 200.
//! Compaction's relocations go through the same queue, so re-pointing a record can never race
//! an upload or a delete of it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, SegmentId};
use crate::index::prelude::*;
use crate::index::{AttachmentRecord, Index, Location};
use crate::store::format::RECORD_HEADER_LEN;
use crate::store::{AppendItem, Placement, Store, StoredBlob};

use super::budget::MemoryPermit;
use super::{Result, ServiceError, Stripes, UploadClaim};

/// The bytes of an upload, ready to commit.
pub enum Payload {
    /// A small blob to append to a segment.
    Segment(AppendItem),
    /// A large blob already durable at its final path, with its CRC-32C.
    Standalone(StoredBlob, u32),
}

enum Job {
    /// The claim rides along, so no retry of the same attachment can start before this commit
    /// has an outcome (even if the uploading client has gone away).
    /// So does the upload's memory permit: bytes waiting here stay counted against the upload
    /// budget until the job is done, even if the uploading client has gone away.
    Upload {
        id: AttachmentId,
        payload: Payload,
        claim: UploadClaim,
        _memory: MemoryPermit,
        reply: oneshot::Sender<Result<AttachmentRecord>>,
    },
    Relocate {
        id: AttachmentId,
        from: (SegmentId, u64),
        item: AppendItem,
        reply: oneshot::Sender<Result<bool>>,
    },
    /// Remove a segment whose live count is zero. Runs on the committer thread, after every
    /// batch that wrote into the segment has committed, so no commit can point into it.
    RemoveSegment {
        segment: SegmentId,
        reply: oneshot::Sender<Result<bool>>,
    },
}

impl Job {
    fn id(&self) -> Option<&AttachmentId> {
        match self {
            Job::Upload { id, .. } | Job::Relocate { id, .. } => Some(id),
            Job::RemoveSegment { .. } => None,
        }
    }
    fn bytes(&self) -> u64 {
        match self {
            Job::Upload { payload: Payload::Segment(i), .. } | Job::Relocate { item: i, .. } => i.len(),
            Job::Upload { .. } | Job::RemoveSegment { .. } => 0,
        }
    }
}

/// Handle to the committer thread.
pub struct Committer {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer thread.
    pub fn start(
        index: Arc<Index>,
        store: Arc<Store>,
        locks: Arc<Stripes>,
        max_batch_bytes: u64,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name("attachd-commit".into()).spawn(move || {
            let ctx = Ctx { index, store, locks };
            while let Ok(first) = rx.recv() {
                let mut bytes = first.bytes();
                let mut jobs = vec![first];
                while bytes < max_batch_bytes {
                    match rx.try_recv() {
                        Ok(j) => {
                            bytes += j.bytes();
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                ctx.process(jobs);
            }
        })?;
        Ok(Self { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
    }

    fn send(&self, job: Job) -> Result<()> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref() {
            Some(tx) => tx.send(job).map_err(|_| ServiceError::Unavailable),
            None => Err(ServiceError::Unavailable),
        }
    }

    /// Commits an upload; resolves once it is durable and indexed. The claim is released when
    /// the commit has an outcome.
    pub async fn commit_upload(
        &self,
        claim: UploadClaim,
        payload: Payload,
        memory: MemoryPermit,
    ) -> Result<AttachmentRecord> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Upload { id: claim.id(), payload, claim, _memory: memory, reply })?;
        rx.await.map_err(|_| ServiceError::Unavailable)?
    }

    /// Moves a record to a new segment if it is still at `from` (compaction). Blocking.
    /// Returns whether it moved.
    pub fn relocate_blocking(&self, id: AttachmentId, from: (SegmentId, u64), item: AppendItem) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::Relocate { id, from, item, reply })?;
        rx.blocking_recv().map_err(|_| ServiceError::Unavailable)?
    }

    /// Removes `segment` if no record lives in it any more (compaction). Blocking. Returns
    /// whether it was removed.
    pub fn remove_segment_blocking(&self, segment: SegmentId) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.send(Job::RemoveSegment { segment, reply })?;
        rx.blocking_recv().map_err(|_| ServiceError::Unavailable)?
    }

    /// Stops taking jobs, finishes the queued ones and joins the thread.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

struct Ctx {
    index: Arc<Index>,
    store: Arc<Store>,
    locks: Arc<Stripes>,
}

/// A job that passed validation, with the record it will rewrite.
struct Accepted {
    job: Job,
    rec: AttachmentRecord,
    placement: Option<Placement>,
}

impl Ctx {
    fn process(&self, jobs: Vec<Job>) {
        let started = std::time::Instant::now();
        let (removals, jobs): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.id().is_none());
        let ids: Vec<AttachmentId> = jobs.iter().filter_map(|j| j.id().copied()).collect();
        let guards = self.locks.lock_many(ids.iter().map(|i| i.as_bytes()));
        // Step 2: validate against the current records (one job per attachment per batch).
        let mut accepted = Vec::with_capacity(jobs.len());
        let mut seen = std::collections::HashSet::with_capacity(jobs.len());
        for job in jobs {
            let fresh = job.id().is_some_and(|id| seen.insert(*id));
            let checked = if fresh { self.validate(&job) } else { Err(ServiceError::UploadInProgress) };
            match checked {
                Ok(Some(rec)) => accepted.push(Accepted { job, rec, placement: None }),
                Ok(None) => reply(job, Ok(None)),
                Err(e) => {
                    self.discard_unused_blob(&job);
                    reply(job, Err(e));
                }
            }
        }
        // Step 3: segment payloads, one write + fdatasync per segment touched.
        let items: Vec<AppendItem> = accepted.iter().filter_map(|a| segment_item(&a.job).cloned()).collect();
        let seg_bytes: u64 = items.iter().map(AppendItem::len).sum();
        if !items.is_empty() {
            let write_started = std::time::Instant::now();
            let appended = self.store.segments.append_batch(&items);
            crate::metrics::segment_write(write_started.elapsed());
            match appended {
                Ok(placements) => {
                    let mut it = placements.into_iter();
                    for a in accepted.iter_mut().filter(|a| segment_item(&a.job).is_some()) {
                        a.placement = it.next();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, records = items.len(), "segment append failed; failing its uploads");
                    let msg = e.to_string();
                    let (failed, rest): (Vec<_>, Vec<_>) =
                        accepted.into_iter().partition(|a| segment_item(&a.job).is_some());
                    accepted = rest;
                    let no_space = matches!(e, crate::store::StoreError::NoSpace { .. });
                    for a in failed {
                        let err = if no_space { ServiceError::NoSpace } else { ServiceError::Internal(msg.clone()) };
                        reply(a.job, Err(err));
                    }
                }
            }
        }
        // Step 4: one synced index batch.
        let now = Timestamp::now();
        let mut batch = self.index.batch();
        for a in accepted.iter_mut() {
            apply(&mut batch, a, now);
        }
        let committed = if batch.is_empty() { Ok(()) } else { batch.commit(true) };
        drop(guards);
        crate::metrics::group_commit(accepted.len(), seg_bytes, started.elapsed());
        // Segment removals run after this batch's commit, never inside it.
        for job in removals {
            if let Job::RemoveSegment { segment, reply } = job {
                let _ = reply.send(self.remove_segment(segment));
            }
        }
        // Step 5: answer.
        match committed {
            Ok(()) => {
                for a in accepted {
                    let rec = a.rec;
                    match a.job {
                        Job::Upload { reply, claim, .. } => {
                            // Release before answering, so a client that hears 200 and PUTs again
                            // is told `already_uploaded`, not `upload_in_progress`.
                            drop(claim);
                            let _ = reply.send(Ok(rec));
                        }
                        Job::Relocate { reply, .. } => {
                            let _ = reply.send(Ok(true));
                        }
                        Job::RemoveSegment { .. } => {}
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "index commit failed; failing the batch");
                for a in accepted {
                    reply(a.job, Err(ServiceError::Internal(format!("index commit: {e}"))));
                }
            }
        }
    }

    /// A standalone upload that will not be committed: remove its file, unless (checked under
    /// the record lock the caller holds) the record points at that very file. Only called for
    /// jobs refused before the index write, so the index can never point at a removed file.
    fn discard_unused_blob(&self, job: &Job) {
        let Job::Upload { id, payload: Payload::Standalone(blob, _), .. } = job else { return };
        let referenced = matches!(self.index.record(*id), Ok(Some(r)) if r.project_id == blob.project
            && r.location.and_then(|l| l.standalone_month()) == Some(blob.month));
        if !referenced {
            if let Err(e) = self.store.blobs.remove(blob) {
                tracing::warn!(attachment = %id, error = %e, "could not remove an uncommitted blob; the orphan sweep will");
            }
        }
    }

    /// Removes a segment file and its counter if its live count is zero. Compaction has already
    /// checked that no record points into it (`worker::compaction`); that walk is not done here,
    /// where it would hold up every group commit.
    fn remove_segment(&self, segment: SegmentId) -> Result<bool> {
        if self.index.segment_live(segment)?.count > 0 || self.store.segments.active_id() == Some(segment) {
            return Ok(false);
        }
        self.store.segments.remove(segment)?;
        let mut b = self.index.batch();
        b.set_segment_live(segment, None);
        b.commit(true)?;
        Ok(true)
    }

    /// `Ok(Some(rec))`: go ahead; `Ok(None)`: nothing to do (relocation no longer needed).
    fn validate(&self, job: &Job) -> Result<Option<AttachmentRecord>> {
        let Some(id) = job.id() else { return Ok(None) };
        let rec = self.index.record(*id)?;
        match job {
            Job::Upload { .. } => {
                let rec = rec.ok_or(ServiceError::AttachmentNotFound)?;
                if rec.deleted_at.is_some() {
                    return Err(ServiceError::AttachmentDeleted);
                }
                if rec.uploaded_at.is_some() {
                    return Err(ServiceError::AlreadyUploaded);
                }
                Ok(Some(rec))
            }
            Job::Relocate { from, .. } => {
                Ok(rec.filter(|r| r.location == Some(Location::Segment { segment: from.0, offset: from.1 })))
            }
            Job::RemoveSegment { .. } => Ok(None),
        }
    }
}

fn segment_item(job: &Job) -> Option<&AppendItem> {
    match job {
        Job::Upload { payload: Payload::Segment(i), .. } | Job::Relocate { item: i, .. } => Some(i),
        Job::Upload { payload: Payload::Standalone(..), .. } | Job::RemoveSegment { .. } => None,
    }
}

fn apply(batch: &mut crate::index::Batch<'_>, a: &mut Accepted, now: Timestamp) {
    let rec = &mut a.rec;
    let live = |p: &Placement| (RECORD_HEADER_LEN as u64 + p.len) as i64;
    match &a.job {
        Job::Upload { payload, .. } => {
            rec.location = Some(match (payload, &a.placement) {
                (Payload::Segment(_), Some(p)) => {
                    batch.add_segment_live(p.segment, live(p), 1);
                    Location::Segment { segment: p.segment, offset: p.offset }
                }
                (Payload::Standalone(b, crc), _) => Location::Standalone { month: b.month, crc32c: Some(*crc) },
                (Payload::Segment(_), None) => {
                    unreachable!("segment jobs without a placement were failed above")
                }
            });
            rec.uploaded_at = Some(now);
            batch.delete_expiry(rec);
        }
        Job::Relocate { from, .. } => {
            let p = a.placement.expect("relocations always get a placement");
            batch.add_segment_live(from.0, -live(&p), -1);
            batch.add_segment_live(p.segment, live(&p), 1);
            rec.location = Some(Location::Segment { segment: p.segment, offset: p.offset });
        }
        Job::RemoveSegment { .. } => return,
    }
    batch.put_record(rec);
}

fn reply(job: Job, r: Result<Option<AttachmentRecord>>) {
    match job {
        Job::Upload { reply, claim, .. } => {
            drop(claim);
            let _ = reply.send(r.and_then(|o| o.ok_or(ServiceError::AttachmentNotFound)));
        }
        Job::Relocate { reply, .. } => {
            let _ = reply.send(r.map(|o| o.is_some()));
        }
        Job::RemoveSegment { reply, .. } => {
            let _ = reply.send(r.map(|_| false));
        }
    }
}
