//! Scanning as an engine stage, the service's half: which files wait for a scan, their bytes
//! for the scanner, the verdict recorded, and what each scan state lets an API serve.
//!
//! A file is queued by its own upload: an API that scans creates the record with scan state
//! `Pending`, and the catalog keeps a file that is uploaded, live and pending in its scan
//! queue (written in the upload's commit, so a queued scan survives whatever the upload
//! survives). The worker (`crate::worker::scans`) takes files from the queue, reads their
//! bytes through [`Service::open_for_scan`], asks the scanner, and records the verdict with
//! [`Service::record_verdict`]: a compare-and-set transition from the record as opened, which
//! also takes the file out of the queue. A file deleted or replaced meanwhile is left alone.
//!
//! Serving follows the state ([`servable`]): not scanned or clean is served; pending is
//! refused (409, or 503 while the scanner is known to be unreachable); infected and failed
//! are never served by any API. The scanner's health is what the worker last saw.

use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{self, BoxStream};

use crate::clock::Timestamp;
use crate::engine::{Access, Durability, Opened};
use crate::ids::AttachmentId;
use crate::model::{Attachment, FileEvent, Notice, ScanState};
use crate::scanner::Clamd;

use super::budget::charged;
use super::download::{FileStream, STREAM_CHUNK, stream_file};
use super::{Result, Service, ServiceError};

/// Most queued files counted by [`Service::scan_backlog`] (the sampler counts every 5 s).
pub const BACKLOG_CAP: usize = 100_000;

/// A queued file the worker opened.
pub enum ScanInput {
    /// Its bytes, streamed (each chunk charged to the download memory budget).
    Bytes(Attachment, BoxStream<'static, std::io::Result<Bytes>>),
    /// Larger than the scanner takes: to be recorded as failed without sending it.
    TooLarge(Attachment),
}

/// The scanner as the admin API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScannerStatus {
    /// A scanner is configured.
    pub configured: bool,
    /// It answered a ping just now.
    pub reachable: bool,
    /// Files waiting for a scan.
    pub queue_depth: u64,
}

/// What the worker last saw of the scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScannerHealth {
    /// No scanner is configured: scanned files wait.
    NotConfigured,
    /// Not asked yet, or the last exchange worked.
    Reachable,
    /// The last exchange failed: scans are retried with back-off.
    Unreachable,
}

/// The scanner's health, shared by the worker (writer) and the read paths.
#[derive(Debug)]
pub struct HealthCell(AtomicU8);

impl Default for HealthCell {
    fn default() -> Self {
        Self(AtomicU8::new(0))
    }
}

impl HealthCell {
    /// The current health.
    pub fn get(&self) -> ScannerHealth {
        match self.0.load(Ordering::Relaxed) {
            1 => ScannerHealth::Reachable,
            2 => ScannerHealth::Unreachable,
            _ => ScannerHealth::NotConfigured,
        }
    }

    /// Records what the worker saw.
    pub fn set(&self, h: ScannerHealth) {
        let v = match h {
            ScannerHealth::NotConfigured => 0,
            ScannerHealth::Reachable => 1,
            ScannerHealth::Unreachable => 2,
        };
        self.0.store(v, Ordering::Relaxed);
    }
}

/// Whether `rec`'s bytes may be served, given the scanner's `health`.
pub fn servable(rec: &Attachment, health: ScannerHealth) -> Result<()> {
    match &rec.scan {
        ScanState::NotScanned | ScanState::Clean => Ok(()),
        ScanState::Pending if health == ScannerHealth::Unreachable => Err(ServiceError::ScannerUnreachable),
        ScanState::Pending => Err(ServiceError::ScanPending),
        ScanState::Infected(name) => Err(ServiceError::Infected(name.clone())),
        ScanState::Failed(why) => Err(ServiceError::ScanFailed(why.clone())),
    }
}

impl Service {
    /// Hands the service the configured scanner (once, at start).
    pub fn set_scanner(&self, clamd: Clamd) {
        let _ = self.scanner.set(clamd);
    }

    /// The configured scanner, if any.
    pub fn scanner(&self) -> Option<&Clamd> {
        self.scanner.get()
    }

    /// Whether a scanner is configured, whether it answers now, and the queue's depth.
    pub async fn scanner_status(&self) -> Result<ScannerStatus> {
        let reachable = match self.scanner.get() {
            Some(c) => c.ping().await,
            None => false,
        };
        let queue_depth = self.blocking(|svc| svc.scan_backlog()).await?;
        Ok(ScannerStatus { configured: self.scanner.get().is_some(), reachable, queue_depth })
    }

    /// The scanner's health as the worker last saw it.
    pub fn scanner_health(&self) -> ScannerHealth {
        self.scan_health.get()
    }

    /// Records the scanner's health (the worker).
    pub fn set_scanner_health(&self, h: ScannerHealth) {
        self.scan_health.set(h);
    }

    /// What wakes the scan worker early (an upload that queued a file).
    pub fn scan_wakeup(&self) -> &tokio::sync::Notify {
        &self.scan_wake
    }

    /// Tells the scan worker that `rec`, just committed, may wait for a scan.
    pub(crate) fn queued(&self, rec: &Attachment) {
        if rec.scan == ScanState::Pending {
            self.scan_wake.notify_one();
        }
    }

    /// Up to `limit` files waiting for a scan, oldest upload first.
    pub fn scan_queue(&self, limit: usize) -> Result<Vec<AttachmentId>> {
        Ok(self.catalog.scan_queue(limit)?.into_iter().map(|(_, id)| id).collect())
    }

    /// How many files wait for a scan (counted up to [`BACKLOG_CAP`]).
    pub fn scan_backlog(&self) -> Result<u64> {
        Ok(self.catalog.scan_queue(BACKLOG_CAP)?.len() as u64)
    }

    /// Opens a queued file for its scan; `None` if it left the queue meanwhile. A file larger
    /// than `max_bytes` (what the scanner takes) is not opened.
    pub async fn open_for_scan(&self, id: AttachmentId, max_bytes: u64) -> Result<Option<ScanInput>> {
        let Some(rec) = self.catalog.record(id)?.filter(|r| r.scan == ScanState::Pending && r.is_uploaded()) else {
            return Ok(None);
        };
        if rec.deleted_at.is_some() {
            return Ok(None);
        }
        if rec.size_bytes > max_bytes {
            return Ok(Some(ScanInput::TooLarge(rec)));
        }
        let body: BoxStream<'static, std::io::Result<Bytes>> = match self.blobs.open(&rec, Access::Bytes).await? {
            Opened::Stream(reader, verify) => {
                let first = self.download_budget.take((STREAM_CHUNK as u64).min(rec.size_bytes)).await;
                let budget = self.download_budget.clone();
                let len = reader.len();
                let rx = stream_file(FileStream { reader, verify, budget, first }, 0, len);
                stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
                    .map(|c| c.map_err(|e| std::io::Error::other(e.to_string())))
                    .boxed()
            }
            Opened::Whole(read) => {
                let memory = self.download_budget.take(rec.size_bytes).await;
                let bytes = tokio::task::spawn_blocking(read)
                    .await
                    .map_err(|e| ServiceError::Internal(format!("read task: {e}")))??;
                stream::iter([Ok(charged(bytes, memory))]).boxed()
            }
            Opened::Head | Opened::Redirect(_) | Opened::Elsewhere(_) => {
                return Err(ServiceError::Internal("the blob store did not hand over the bytes".into()));
            }
        };
        Ok(Some(ScanInput::Bytes(rec, body)))
    }

    /// Records a queued file as failed with `why` (it could not be scanned); whether it was.
    pub async fn fail_scan(&self, id: AttachmentId, why: String) -> Result<bool> {
        let rec = self.catalog.record(id)?.filter(|r| r.scan == ScanState::Pending && r.is_uploaded());
        match rec.filter(|r| r.deleted_at.is_none()) {
            Some(rec) => self.record_verdict(rec, ScanState::Failed(why)).await,
            None => Ok(false),
        }
    }

    /// Records `verdict` on `rec` (as opened for its scan), taking it out of the queue.
    /// Returns whether it was recorded: a file deleted or changed meanwhile is left as it is
    /// (a deleted one is out of the queue already; anything else that changed it re-queues
    /// it only if it is still pending, and then it is scanned again).
    /// When the project has a webhook, a notice for it is queued in the same write.
    pub async fn record_verdict(&self, rec: Attachment, verdict: ScanState) -> Result<bool> {
        let event = match &verdict {
            ScanState::Clean | ScanState::NotScanned => FileEvent::Processed,
            ScanState::Infected(_) => FileEvent::Infected,
            ScanState::Failed(_) | ScanState::Pending => FileEvent::Failed,
        };
        let noted = self
            .blocking(move |svc| {
                let mut new = rec.clone();
                new.scan = verdict;
                if svc.catalog.webhook(&rec.project_id)?.is_none() {
                    return Ok(svc.catalog.update(&rec, Some(&new), Durability::Logged)?.then_some(false));
                }
                let notice = Notice { at: Timestamp::now(), file: rec.id, project: rec.project_id, event };
                Ok(svc.catalog.update_noting(&rec, Some(&new), Durability::Logged, &notice)?.then_some(true))
            })
            .await?;
        if noted == Some(true) {
            self.notice_wake.notify_one();
        }
        Ok(noted.is_some())
    }
}
