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
//!   4. write one RocksDB batch — each record's transition to uploaded at its location (its
//!      expiry row removed, its segment's live counter raised), and the soft-deletion of each
//!      record an upload replaces (under its project's quota stripe, as its usage moves) —
//!      with a **synced WAL**;
//!   5. unlock, then answer every caller. Only now may a client hear 200.
//! Compaction's relocations go through the same queue, so re-pointing a record can never race
//! an upload or a delete of it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use crate::clock::Timestamp;
use crate::ids::{AttachmentId, SegmentId};
use crate::index::Index;
use crate::index::prelude::*;
use crate::model::{Attachment, Digests, Location};
use crate::store::{AppendItem, Placement, Store, StoredBlob};

// The index counts a segment record's stored length as its payload plus the store's header.
const _: () = assert!(crate::store::format::RECORD_HEADER_LEN as u64 == crate::index::segments::RECORD_OVERHEAD);
use crate::engine::{BlobError, Hold};
use crate::stripes::Stripes;

type Result<T> = std::result::Result<T, BlobError>;

/// The stripes the committer takes: every record of a batch, and the quota stripe of each
/// project whose usage a batch moves (a retired record's). Order: records, then quotas.
#[derive(Clone)]
pub struct Locks {
    /// Record stripes (shared with the catalog).
    pub records: Arc<Stripes>,
    /// Quota stripes (shared with the catalog).
    pub quotas: Arc<Stripes>,
}

/// The bytes of an upload, ready to commit.
pub enum Payload {
    /// A small blob to append to a segment.
    Segment(AppendItem),
    /// A large blob already durable at its final path, with its CRC-32C.
    Standalone(StoredBlob, u32),
}

/// An upload to commit: the pending record `rec` (as read) with `payload`, uploaded at `now`.
pub struct Upload {
    /// The pending record, as the caller read it.
    pub rec: Attachment,
    /// Its bytes.
    pub payload: Payload,
    /// The upload time recorded.
    pub now: Timestamp,
    /// The live record it retires in the same write, if still live.
    pub replaces: Option<Attachment>,
    /// For a reservation of at most `rec.size_bytes`: the measured size and digests to record.
    pub settle: Option<(u64, Digests)>,
}

enum CommitJob {
    /// The caller's hold (its upload claim and memory permit) rides along, so no retry of the
    /// same attachment can start, and the bytes stay counted against the upload budget, until
    /// this commit has an outcome (even if the uploading client has gone away).
    Upload {
        rec: Box<Attachment>,
        payload: Payload,
        now: Timestamp,
        /// The live record this upload replaces, as the caller read it.
        replaces: Option<Box<Attachment>>,
        /// The measured size and digests recorded in place of the reserved ones.
        settle: Option<(u64, Digests)>,
        hold: Hold,
        reply: oneshot::Sender<Result<Attachment>>,
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

impl CommitJob {
    fn id(&self) -> Option<&AttachmentId> {
        match self {
            CommitJob::Upload { rec, .. } => Some(&rec.id),
            CommitJob::Relocate { id, .. } => Some(id),
            CommitJob::RemoveSegment { .. } => None,
        }
    }
    fn bytes(&self) -> u64 {
        match self {
            CommitJob::Upload { payload: Payload::Segment(i), .. } | CommitJob::Relocate { item: i, .. } => i.len(),
            CommitJob::Upload { .. } | CommitJob::RemoveSegment { .. } => 0,
        }
    }
}

/// Handle to the committer thread.
pub struct Committer {
    tx: Mutex<Option<mpsc::Sender<CommitJob>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Committer {
    /// Starts the committer thread.
    pub fn start(index: Arc<Index>, store: Arc<Store>, locks: Locks, max_batch_bytes: u64) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<CommitJob>();
        let thread = std::thread::Builder::new().name("attachd-commit".into()).spawn(move || {
            let committer = BatchCommitter { index, store, locks };
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
                committer.process(jobs);
            }
        })?;
        Ok(Self { tx: Mutex::new(Some(tx)), thread: Mutex::new(Some(thread)) })
    }

    fn send(&self, job: CommitJob) -> Result<()> {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref() {
            Some(tx) => tx.send(job).map_err(|_| BlobError::Unavailable),
            None => Err(BlobError::Unavailable),
        }
    }

    /// Commits `up`; resolves once it is durable and indexed. `hold` is dropped when the
    /// commit has an outcome.
    pub fn commit_upload(
        &self,
        up: Upload,
        hold: Hold,
    ) -> impl std::future::Future<Output = Result<Attachment>> + Send + 'static {
        let (reply, rx) = oneshot::channel();
        let Upload { rec, payload, now, replaces, settle } = up;
        let (rec, replaces) = (Box::new(rec), replaces.map(Box::new));
        let sent = self.send(CommitJob::Upload { rec, payload, now, replaces, settle, hold, reply });
        async move {
            sent?;
            rx.await.map_err(|_| BlobError::Unavailable)?
        }
    }

    /// Moves a record to a new segment if it is still at `from` (compaction). Blocking.
    /// Returns whether it moved.
    pub fn relocate_blocking(&self, id: AttachmentId, from: (SegmentId, u64), item: AppendItem) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitJob::Relocate { id, from, item, reply })?;
        rx.blocking_recv().map_err(|_| BlobError::Unavailable)?
    }

    /// Removes `segment` if no record lives in it any more (compaction). Blocking. Returns
    /// whether it was removed.
    pub fn remove_segment_blocking(&self, segment: SegmentId) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.send(CommitJob::RemoveSegment { segment, reply })?;
        rx.blocking_recv().map_err(|_| BlobError::Unavailable)?
    }

    /// Stops taking jobs, finishes the queued ones and joins the thread.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

struct BatchCommitter {
    index: Arc<Index>,
    store: Arc<Store>,
    locks: Locks,
}

/// A job that passed validation, with the record it will rewrite.
struct Accepted {
    job: CommitJob,
    rec: Attachment,
    placement: Option<Placement>,
    /// The replaced record as stored now, if it is still live (retired in the same batch).
    retire: Option<Attachment>,
}

impl BatchCommitter {
    fn process(&self, jobs: Vec<CommitJob>) {
        let started = std::time::Instant::now();
        let (removals, jobs): (Vec<CommitJob>, Vec<CommitJob>) = jobs.into_iter().partition(|j| j.id().is_none());
        let mut ids: Vec<AttachmentId> = jobs.iter().filter_map(|j| j.id().copied()).collect();
        ids.extend(jobs.iter().filter_map(|j| replaced(j).map(|r| r.id)));
        let guards = self.locks.records.lock_many(ids.iter().map(|i| i.as_bytes()));
        let mut accepted = self.validate_batch(jobs);
        // Retiring a record, or settling a reservation at its measured size, moves its
        // project's usage: hold the quota stripe, as the catalog's own updates do, so no
        // reserve reads usage half-way.
        let moves_usage =
            |a: &&Accepted| a.retire.is_some() || matches!(a.job, CommitJob::Upload { settle: Some(_), .. });
        let projects: Vec<_> = accepted.iter().filter(moves_usage).map(|a| a.rec.project_id).collect();
        let quota_guards = self.locks.quotas.lock_many(projects.iter().map(|p| p.as_bytes()));
        let seg_bytes = self.write_segments(&mut accepted);
        // Step 4: one synced index batch.
        let mut batch = self.index.batch();
        let mut committed = accepted.iter_mut().try_for_each(|a| apply(&mut batch, a));
        if committed.is_ok() && !batch.is_empty() {
            committed = batch.commit(true);
        }
        drop(quota_guards);
        drop(guards);
        crate::metrics::group_commit(accepted.len(), seg_bytes, started.elapsed());
        // Segment removals run after this batch's commit, never inside it.
        for job in removals {
            if let CommitJob::RemoveSegment { segment, reply } = job {
                let _ = reply.send(self.remove_segment(segment));
            }
        }
        answer(accepted, committed);
    }

    /// Step 2: validates each job against the current record (one job per attachment per
    /// batch); answers the refused ones at once.
    fn validate_batch(&self, jobs: Vec<CommitJob>) -> Vec<Accepted> {
        let mut accepted = Vec::with_capacity(jobs.len());
        let mut seen = std::collections::HashSet::with_capacity(jobs.len());
        for job in jobs {
            let fresh = job.id().is_some_and(|id| seen.insert(*id));
            let checked = if fresh { self.validate(&job) } else { Err(BlobError::InProgress) };
            match checked {
                Ok(Some(rec)) => match self.still_live(&job) {
                    Ok(retire) => accepted.push(Accepted { job, rec, placement: None, retire }),
                    Err(e) => {
                        self.discard_unused_blob(&job);
                        reply(job, Err(e));
                    }
                },
                Ok(None) => reply(job, Ok(None)),
                Err(e) => {
                    self.discard_unused_blob(&job);
                    reply(job, Err(e));
                }
            }
        }
        accepted
    }

    /// Step 3: the segment payloads, one write + fdatasync per segment touched; each accepted
    /// job learns its placement. On failure its segment jobs are answered and dropped from
    /// `accepted`. Returns the bytes written.
    fn write_segments(&self, accepted: &mut Vec<Accepted>) -> u64 {
        let items: Vec<AppendItem> = accepted.iter().filter_map(|a| segment_item(&a.job).cloned()).collect();
        let seg_bytes: u64 = items.iter().map(AppendItem::len).sum();
        if items.is_empty() {
            return 0;
        }
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
                    std::mem::take(accepted).into_iter().partition(|a| segment_item(&a.job).is_some());
                *accepted = rest;
                let no_space = matches!(e, crate::store::StoreError::NoSpace { .. });
                for a in failed {
                    let err = if no_space { BlobError::NoSpace } else { BlobError::Backend(msg.clone()) };
                    reply(a.job, Err(err));
                }
            }
        }
        seg_bytes
    }

    /// A standalone upload that will not be committed: remove its file, unless (checked under
    /// the record lock the caller holds) the record points at that very file. Only called for
    /// jobs refused before the index write, so the index can never point at a removed file.
    fn discard_unused_blob(&self, job: &CommitJob) {
        let CommitJob::Upload { rec, payload: Payload::Standalone(blob, _), .. } = job else { return };
        let id = &rec.id;
        let referenced = matches!(self.index.record(*id), Ok(Some(r)) if super::orphans::points_at(&r, blob));
        if !referenced {
            if let Err(e) = self.store.blobs.remove(blob) {
                tracing::warn!(attachment = %id, error = %e, "could not remove an uncommitted blob; the orphan sweep will");
            }
        }
    }

    /// Removes a segment file and its counter if its live count is zero. Compaction has already
    /// checked that no record points into it (`compaction.rs`); that walk is not done here,
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

    /// The record an upload replaces, as stored now, if it is still live.
    fn still_live(&self, job: &CommitJob) -> Result<Option<Attachment>> {
        let Some(old) = replaced(job) else { return Ok(None) };
        Ok(self.index.record(old.id)?.filter(|r| r.deleted_at.is_none() && r.id != job.id().copied().unwrap_or(r.id)))
    }

    /// `Ok(Some(rec))`: go ahead; `Ok(None)`: nothing to do (relocation no longer needed).
    fn validate(&self, job: &CommitJob) -> Result<Option<Attachment>> {
        let Some(id) = job.id() else { return Ok(None) };
        let rec = self.index.record(*id)?;
        match job {
            CommitJob::Upload { settle, .. } => {
                let rec = rec.ok_or(BlobError::RecordGone)?;
                if rec.deleted_at.is_some() {
                    return Err(BlobError::RecordDeleted);
                }
                if rec.uploaded_at.is_some() {
                    return Err(BlobError::AlreadyUploaded);
                }
                if settle.is_some_and(|(len, _)| len > rec.size_bytes) {
                    return Err(BlobError::Backend("a settled body larger than its reservation".into()));
                }
                Ok(Some(rec))
            }
            CommitJob::Relocate { from, .. } => {
                Ok(rec.filter(|r| r.location == Some(Location::Segment { segment: from.0, offset: from.1 })))
            }
            CommitJob::RemoveSegment { .. } => Ok(None),
        }
    }
}

fn replaced(job: &CommitJob) -> Option<&Attachment> {
    match job {
        CommitJob::Upload { replaces: Some(r), .. } => Some(r),
        _ => None,
    }
}

fn segment_item(job: &CommitJob) -> Option<&AppendItem> {
    match job {
        CommitJob::Upload { payload: Payload::Segment(i), .. } | CommitJob::Relocate { item: i, .. } => Some(i),
        CommitJob::Upload { payload: Payload::Standalone(..), .. } | CommitJob::RemoveSegment { .. } => None,
    }
}

/// The record after the job (uploaded here, or moved), written as a transition from the
/// record the job was validated against: the expiry row goes, the segment counters move.
fn apply(batch: &mut crate::index::Batch<'_>, a: &mut Accepted) -> std::result::Result<(), crate::index::IndexError> {
    let old = a.rec.clone();
    let rec = &mut a.rec;
    match (&a.job, &a.placement) {
        (CommitJob::Upload { payload: Payload::Segment(_), .. }, Some(p)) | (CommitJob::Relocate { .. }, Some(p)) => {
            rec.location = Some(Location::Segment { segment: p.segment, offset: p.offset });
        }
        (CommitJob::Upload { payload: Payload::Standalone(b, crc), .. }, _) => {
            rec.location = Some(Location::Standalone { month: b.month, crc32c: Some(*crc) });
        }
        (CommitJob::Upload { .. } | CommitJob::Relocate { .. }, None) => {
            unreachable!("segment jobs without a placement were failed above")
        }
        (CommitJob::RemoveSegment { .. }, _) => return Ok(()),
    }
    if let CommitJob::Upload { now, settle, .. } = a.job {
        rec.uploaded_at = Some(now);
        if let Some((len, digests)) = settle {
            rec.size_bytes = len;
            rec.digests = digests;
        }
        if let Some(live) = &a.retire {
            let retired = Attachment { deleted_at: Some(now), ..live.clone() };
            batch.transition(Some(live), Some(&retired))?;
        }
    }
    batch.transition(Some(&old), Some(rec))
}

/// Step 5: answers every job of a batch whose index commit had `committed` as its outcome.
fn answer(accepted: Vec<Accepted>, committed: std::result::Result<(), crate::index::IndexError>) {
    match committed {
        Ok(()) => {
            for a in accepted {
                let rec = a.rec;
                match a.job {
                    CommitJob::Upload { reply, hold, .. } => {
                        // Release before answering, so a client that hears 200 and PUTs again
                        // is told `already_uploaded`, not `upload_in_progress`.
                        drop(hold);
                        let _ = reply.send(Ok(rec));
                    }
                    CommitJob::Relocate { reply, .. } => {
                        let _ = reply.send(Ok(true));
                    }
                    CommitJob::RemoveSegment { .. } => {}
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "index commit failed; failing the batch");
            for a in accepted {
                reply(a.job, Err(BlobError::Backend(format!("index commit: {e}"))));
            }
        }
    }
}
fn reply(job: CommitJob, r: Result<Option<Attachment>>) {
    match job {
        CommitJob::Upload { reply, hold, .. } => {
            drop(hold);
            let _ = reply.send(r.and_then(|o| o.ok_or(BlobError::RecordGone)));
        }
        CommitJob::Relocate { reply, .. } => {
            let _ = reply.send(r.map(|o| o.is_some()));
        }
        CommitJob::RemoveSegment { reply, .. } => {
            let _ = reply.send(r.map(|_| false));
        }
    }
}
