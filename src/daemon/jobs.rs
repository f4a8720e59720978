//! The background jobs the daemon runs: cleanup, the reservation sweeper, the metrics sampler,
//! the scan worker (when a scanner is configured) and the webhook worker, each until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, Schedule};
use crate::service::Service;
use crate::worker::cleanup::Cleanup;
use crate::worker::sampler::Sampler;
use crate::worker::sweeper::ReservationSweeper;
use crate::worker::{Job, spawn};

/// Spawns the background jobs (cleanup, reservation sweeper, sampler) until `stop_rx` turns
/// true, and takes a first sample now. Returns their handles and the cleanup job, which the
/// admin API can also run on demand.
pub(super) fn start_jobs(
    cfg: &Config,
    service: &Arc<Service>,
    stop_rx: &watch::Receiver<bool>,
) -> (Vec<tokio::task::JoinHandle<()>>, Arc<Cleanup>) {
    let cleanup = Arc::new(Cleanup::new(service.clone()));
    let sweeper = Arc::new(ReservationSweeper { service: service.clone() });
    let sampler = Arc::new(Sampler { service: service.clone() });
    let jobs = vec![
        spawn(cleanup.clone(), cfg.schedule(), stop_rx.clone()),
        spawn(
            sweeper,
            Schedule::Every(Duration::from_secs(cfg.uploads.reservation_sweep_interval_secs)),
            stop_rx.clone(),
        ),
        spawn(sampler.clone(), Schedule::Every(Duration::from_secs(5)), stop_rx.clone()),
        spawn(
            Arc::new(crate::worker::control::ControlWatch { service: service.clone() }),
            Schedule::Every(crate::worker::control::PERIOD),
            stop_rx.clone(),
        ),
    ];
    sampler.run_once();
    let mut jobs = jobs;
    jobs.extend(start_scanner(cfg, service, stop_rx));
    let hooks = crate::worker::webhooks::WebhookSettings {
        timeout: Duration::from_secs(cfg.webhooks.timeout_secs),
        retry_max: Duration::from_secs(cfg.webhooks.retry_max_secs),
        poll: Duration::from_secs(1),
    };
    let deliver: crate::worker::webhooks::Deliver = Arc::new(|d: crate::worker::webhooks::Delivery| {
        Box::pin(async move {
            crate::http::webhook::deliver(&d.url, &d.secret, &d.event, &d.id, d.body, d.timeout)
                .await
                .map_err(|e| e.to_string())
        })
    });
    jobs.push(crate::worker::webhooks::spawn(service.clone(), hooks, deliver, stop_rx.clone()));
    (jobs, cleanup)
}

/// Starts the scan worker when a scanner is configured; otherwise says so, if an API scans
/// (its files stay pending: never served unscanned).
fn start_scanner(
    cfg: &Config,
    service: &Arc<Service>,
    stop_rx: &watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    use crate::service::scan::ScannerHealth;
    let s = &cfg.scanner;
    let Some(address) = s.address() else {
        service.set_scanner_health(ScannerHealth::NotConfigured);
        let a = &cfg.apis;
        let scanning: Vec<&str> = [
            ("catalog", a.catalog.enabled && a.catalog.scan),
            ("sessions", a.sessions.enabled && a.sessions.scan),
            ("assets", a.assets.enabled && a.assets.scan),
            ("files", a.files.enabled && a.files.scan),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect();
        if !scanning.is_empty() {
            tracing::warn!(
                apis = ?scanning,
                "no content scanner configured (scanner.clamd_address): uploads of these APIs stay pending (processing) and are not served"
            );
        }
        return None;
    };
    tracing::info!(address = %s.clamd_address, concurrency = s.concurrency, "content scanner configured");
    let clamd = crate::scanner::Clamd::new(address, Duration::from_secs(s.timeout_secs));
    service.set_scanner(clamd.clone());
    let settings = crate::worker::scans::ScanSettings {
        concurrency: s.concurrency,
        max_bytes: s.max_file_bytes,
        poll: Duration::from_secs(1),
        retry_min: Duration::from_secs(s.retry_min_secs),
        retry_max: Duration::from_secs(s.retry_max_secs),
    };
    Some(crate::worker::scans::spawn(service.clone(), clamd, settings, stop_rx.clone()))
}
