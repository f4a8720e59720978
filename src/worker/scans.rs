//! The scan worker: takes files from the catalog's scan queue, streams their bytes to the
//! content scanner and records each verdict, at most `concurrency` at a time.
//!
//! The queue lives in the catalog, so the worker keeps no state a restart could lose: on
//! start it reads the queue from its oldest entry, and it is woken early whenever an upload
//! queues a file. A verdict (clean, infected, failed) is recorded once and never retried. A
//! file larger than the scanner takes is recorded as failed without being sent (clamd would
//! cut it off mid-stream). A scan that gets no verdict is followed by a PING: when clamd does
//! not answer either, nothing is recorded (the files stay queued), the service is told the
//! scanner is unreachable (so reads of waiting files answer 503), no more scans start, and the
//! worker pings with back-off, doubling from `retry_min` to `retry_max`, until clamd answers.
//! When clamd answers, the file itself is the trouble (clamd never finishes it in time, or we
//! cannot read it): after [`MAX_ATTEMPTS`] it is recorded as failed, so no file can hold the
//! queue up. With no scanner configured the worker does not run: scanned files
//! stay pending (reported at start, and by the admin API's scanner status).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// clamd replied and the verdict was recorded.
    Scanned,
    /// Nothing to ask clamd: the file left the queue meanwhile, or was recorded as too large.
    Skipped,
    /// No verdict from clamd (no connection, a broken exchange, no reply in time), with why.
    Unreachable(String),
    /// Our side failed (reading the file, recording the verdict).
    Failed(String),
}

/// Attempts at one file that end without a verdict while clamd itself answers (a file clamd
/// never finishes in time, bytes we cannot read) before it is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 3;

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
        let mut attempts: HashMap<AttachmentId, u32> = HashMap::new();
        let mut backoff = Duration::ZERO;
        // Whether the last round got anywhere: then the queue is read again at once.
        let mut busy = false;
        loop {
            let wait = if backoff.is_zero() { settings.poll } else { backoff };
            if !busy {
                tokio::select! {
                    _ = service.scan_wakeup().notified(), if backoff.is_zero() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
            if *stop.borrow() {
                // Let running scans end (their verdicts are recorded or they stay queued).
                let _ = slots.acquire_many(settings.concurrency.max(1) as u32).await;
                return;
            }
            busy = false;
            if !backoff.is_zero() {
                // Backing off: ask clamd itself (never a file, which may be the trouble).
                if !clamd.ping().await {
                    backoff = (backoff * 2).min(settings.retry_max);
                    continue;
                }
                tracing::info!("the content scanner is reachable again");
                service.set_scanner_health(ScannerHealth::Reachable);
                backoff = Duration::ZERO;
            }
            let queue = match service.scan_queue(256) {
                Ok(q) => q,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the scan queue");
                    continue;
                }
            };
            // The first scan that gets no verdict stops this round from starting more.
            let trouble = Arc::new(AtomicBool::new(false));
            let (tx, mut results) = tokio::sync::mpsc::unbounded_channel();
            for id in queue {
                if trouble.load(Ordering::Relaxed) || *stop.borrow() {
                    break;
                }
                if !in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(id) {
                    continue;
                }
                let permit = slots.clone().acquire_owned().await.expect("never closed");
                let (svc, clamd, s, tx) = (service.clone(), clamd.clone(), settings.clone(), tx.clone());
                let (fl, trouble) = (in_flight.clone(), trouble.clone());
                tokio::spawn(async move {
                    let outcome = scan_one(&svc, &clamd, &s, id).await;
                    if matches!(outcome, Attempt::Unreachable(_)) {
                        trouble.store(true, Ordering::Relaxed);
                    }
                    fl.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    drop(permit);
                    let _ = tx.send((id, outcome));
                });
            }
            drop(tx);
            let mut round = Vec::new();
            while let Some(r) = results.recv().await {
                round.push(r);
            }
            let unanswered = round.iter().any(|(_, a)| matches!(a, Attempt::Unreachable(_)));
            if unanswered && !clamd.ping().await {
                service.set_scanner_health(ScannerHealth::Unreachable);
                backoff = settings.retry_min;
                tracing::warn!(retry_in = ?backoff, "the content scanner is unreachable; scans wait");
                continue;
            }
            service.set_scanner_health(ScannerHealth::Reachable);
            // clamd answers: a file without a verdict is the trouble itself; after
            // MAX_ATTEMPTS it is recorded as failed, so it cannot hold up the queue.
            for (id, a) in &round {
                let why = match a {
                    Attempt::Unreachable(why) | Attempt::Failed(why) => why,
                    Attempt::Scanned | Attempt::Skipped => {
                        attempts.remove(id);
                        continue;
                    }
                };
                let n = attempts.entry(*id).or_default();
                *n += 1;
                if *n >= MAX_ATTEMPTS {
                    let why = format!("no verdict after {n} attempts: {why}");
                    tracing::warn!(attachment = %id, %why, "recording a scan as failed");
                    if let Err(e) = service.fail_scan(*id, why).await {
                        tracing::error!(attachment = %id, error = %e, "could not record a failed scan");
                    }
                    attempts.remove(id);
                }
            }
            busy = round.iter().any(|(_, a)| matches!(a, Attempt::Scanned | Attempt::Skipped));
        }
    })
}

/// One attempt at file `id`.
async fn scan_one(service: &Service, clamd: &Clamd, s: &ScanSettings, id: AttachmentId) -> Attempt {
    let input = match service.open_for_scan(id, s.max_bytes).await {
        Ok(Some(input)) => input,
        Ok(None) => return Attempt::Skipped,
        Err(e) => {
            tracing::error!(attachment = %id, error = %e, "could not read a file for its scan");
            return Attempt::Failed(e.to_string());
        }
    };
    let started = std::time::Instant::now();
    let asked = matches!(input, ScanInput::Bytes(..));
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
                return Attempt::Unreachable(why);
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
            if asked { Attempt::Scanned } else { Attempt::Skipped }
        }
        Err(e) => {
            tracing::error!(attachment = %id, error = %e, "could not record a scan verdict");
            Attempt::Failed(e.to_string())
        }
    }
}
