//! The scan worker: takes files from the catalog's scan queue, streams their bytes to the
//! content scanner and records each verdict, at most `concurrency` at a time.
//!
//! The queue lives in the catalog, so the worker keeps no state a restart could lose: on
//! start it reads the queue from its oldest entry, and it is woken early whenever an upload
//! queues a file. A verdict (clean, infected, failed) is recorded once and never retried. A
//! file larger than the scanner takes is recorded as failed without being sent (clamd would
//! cut it off mid-stream). When the scanner cannot be reached, nothing is recorded: the file
//! stays queued, the service is told the scanner is unreachable (so reads of waiting files
//! answer 503), and the worker backs off, doubling from `retry_min` to `retry_max`, until an
//! exchange works again. With no scanner configured the worker does not run: scanned files
//! stay pending (reported at start, and by the admin API's scanner status).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::ids::AttachmentId;
use crate::model::ScanState;
use crate::scanner::{Clamd, ScanError, Verdict};
use crate::service::Service;
use crate::service::scan::{ScanInput, ScannerHealth};

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Scans running at once.
    pub concurrency: usize,
    /// Largest file sent to the scanner; larger files are recorded as failed.
    pub max_bytes: u64,
    /// How often the queue is read when nothing wakes the worker.
    pub poll: Duration,
    /// First wait after the scanner could not be reached.
    pub retry_min: Duration,
    /// Longest wait between attempts.
    pub retry_max: Duration,
}

/// What one attempt at one file came to.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    /// A verdict was recorded (or the file left the queue meanwhile).
    Done,
    /// The scanner could not be reached: retry later.
    Unreachable,
    /// Our side failed (reading the bytes): retry later.
    Failed,
}

/// Runs the scan worker until `stop` turns true.
pub fn spawn(
    service: Arc<Service>,
    clamd: Clamd,
    settings: ScanSettings,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        service.set_scanner_health(ScannerHealth::Reachable);
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let in_flight: Arc<Mutex<HashSet<AttachmentId>>> = Arc::default();
        let mut backoff = Duration::ZERO;
        loop {
            let wait = if backoff.is_zero() { settings.poll } else { backoff };
            tokio::select! {
                _ = service.scan_wakeup().notified(), if backoff.is_zero() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                // Let running scans end (their verdicts are recorded or they stay queued).
                let _ = slots.acquire_many(settings.concurrency.max(1) as u32).await;
                return;
            }
            // While backing off, one file probes the scanner.
            let batch = if backoff.is_zero() { 256 } else { 1 };
            let queue = match service.scan_queue(batch) {
                Ok(q) => q,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the scan queue");
                    continue;
                }
            };
            let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
            let mut started = 0usize;
            for id in queue {
                if !in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(id) {
                    continue;
                }
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let (svc, clamd, s, tx) = (service.clone(), clamd.clone(), settings.clone(), tx.clone());
                let fl = in_flight.clone();
                started += 1;
                tokio::spawn(async move {
                    let outcome = scan_one(&svc, &clamd, &s, id).await;
                    fl.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    drop(permit);
                    let _ = tx.send(outcome);
                });
            }
            drop(tx);
            let mut round = Vec::with_capacity(started);
            while let Some(a) = results.recv().await {
                round.push(a);
            }
            let reached = if round.is_empty() {
                // Nothing to scan: while backing off, ask the scanner directly.
                !backoff.is_zero() && clamd.ping().await
            } else {
                round.iter().any(|a| *a != Attempt::Unreachable)
            };
            if reached || round.is_empty() && backoff.is_zero() {
                if !backoff.is_zero() {
                    tracing::info!("the content scanner is reachable again");
                }
                service.set_scanner_health(ScannerHealth::Reachable);
                backoff = Duration::ZERO;
            } else {
                service.set_scanner_health(ScannerHealth::Unreachable);
                backoff = (backoff * 2).clamp(settings.retry_min, settings.retry_max);
                tracing::warn!(retry_in = ?backoff, "the content scanner is unreachable; scans wait");
            }
        }
    })
}

/// One attempt at file `id`.
async fn scan_one(service: &Service, clamd: &Clamd, s: &ScanSettings, id: AttachmentId) -> Attempt {
    let input = match service.open_for_scan(id, s.max_bytes).await {
        Ok(Some(input)) => input,
        Ok(None) => return Attempt::Done,
        Err(e) => {
            tracing::error!(attachment = %id, error = %e, "could not read a file for its scan");
            return Attempt::Failed;
        }
    };
    let started = std::time::Instant::now();
    let (rec, verdict) = match input {
        ScanInput::TooLarge(rec) => {
            let why = format!("larger than the scanner takes ({} > {} bytes)", rec.size_bytes, s.max_bytes);
            (rec, ScanState::Failed(why))
        }
        ScanInput::Bytes(rec, body) => match clamd.scan(body).await {
            Ok(Verdict::Clean) => (rec, ScanState::Clean),
            Ok(Verdict::Infected(name)) => (rec, ScanState::Infected(name)),
            Ok(Verdict::Failed(why)) => (rec, ScanState::Failed(why)),
            Err(ScanError::Unreachable(why)) => {
                tracing::warn!(attachment = %id, error = %why, "scan not completed; it stays queued");
                return Attempt::Unreachable;
            }
        },
    };
    let outcome = match &verdict {
        ScanState::Clean => "clean",
        ScanState::Infected(_) => "infected",
        _ => "failed",
    };
    if let ScanState::Infected(name) = &verdict {
        tracing::warn!(attachment = %id, project = %rec.project_id, signature = %name, "infected file quarantined");
    }
    let size = rec.size_bytes;
    match service.record_verdict(rec, verdict).await {
        Ok(_) => {
            crate::metrics::scan_finished(outcome, size, started.elapsed());
            Attempt::Done
        }
        Err(e) => {
            tracing::error!(attachment = %id, error = %e, "could not record a scan verdict");
            Attempt::Failed
        }
    }
}
