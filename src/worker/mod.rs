//! Background jobs: the reservation sweeper, the cleanup job (reclaim, then the backend's
//! orphan sweep and compaction), the metrics sampler, the control watch, and the scan and webhook workers (`scans`,
//! `webhooks`: their own loops, woken by the work they wait for). Each implements [`Job`]; [`spawn`]
//! runs one on a schedule until shutdown. Jobs do blocking I/O, so each run happens on a
//! blocking thread, one run of a job at a time.

pub mod cleanup;
pub mod control;
pub mod sampler;
pub mod scans;
pub mod sweeper;
pub mod webhooks;

use std::sync::Arc;

use tokio::sync::watch;

use crate::clock::Timestamp;
use crate::config::Schedule;

/// A background job.
pub trait Job: Send + Sync + 'static {
    /// Name for logs.
    fn name(&self) -> &'static str;
    /// One run (blocking); returns a JSON report.
    fn run_once(&self) -> serde_json::Value;
}

/// Runs `job` on `schedule` until `stop` turns true.
pub fn spawn<J: Job>(job: Arc<J>, schedule: Schedule, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Some(delay) = schedule.next_delay(Timestamp::now().as_secs()) else {
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let j = job.clone();
            let report = tokio::task::spawn_blocking(move || j.run_once()).await;
            match report {
                Ok(r) => tracing::debug!(job = job.name(), report = %r, "job finished"),
                Err(e) => tracing::error!(job = job.name(), error = %e, "job panicked"),
            }
        }
    })
}
