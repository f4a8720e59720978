//! The benchmark report: ops/s, MB/s, latency percentiles, errors; a human line and a JSON line.

use std::time::Duration;

use serde::Serialize;

use super::BenchArgs;

/// One benchmark's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `--label`, or the target's name.
    pub label: String,
    /// Payload size in bytes.
    pub size: usize,
    /// Concurrent workers (one connection each).
    pub concurrency: usize,
    /// Wall-clock seconds the workers ran.
    pub seconds: f64,
    /// Operations that succeeded.
    pub ops: u64,
    /// Successful operations per second.
    pub ops_per_sec: f64,
    /// Payload megabytes (10^6 bytes) per second moved by successful operations.
    pub mb_per_sec: f64,
    /// Median latency of successful operations, in milliseconds.
    pub p50_ms: f64,
    /// 90th-percentile latency of successful operations, in milliseconds.
    pub p90_ms: f64,
    /// 99th-percentile latency of successful operations, in milliseconds.
    pub p99_ms: f64,
    /// Slowest successful operation, in milliseconds.
    pub max_ms: f64,
    /// Operations that failed.
    pub errors: u64,
    /// The first error of the first worker (in worker order) that had one.
    pub first_error: Option<String>,
    /// What the hostile clients saw, when any ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostile: Option<super::hostile::HostileReport>,
}

impl Report {
    pub(crate) fn new(
        label: String,
        args: &BenchArgs,
        elapsed: Duration,
        mut lat: Vec<u32>,
        errors: u64,
        first_error: Option<String>,
    ) -> Self {
        lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if lat.is_empty() {
                return 0.0;
            }
            let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
            lat[i] as f64 / 1000.0
        };
        let secs = elapsed.as_secs_f64();
        let ops = lat.len() as u64;
        Self {
            label,
            size: args.size,
            concurrency: args.concurrency,
            seconds: secs,
            ops,
            ops_per_sec: ops as f64 / secs,
            mb_per_sec: ops as f64 * args.size as f64 / secs / 1e6,
            p50_ms: pct(0.50),
            p90_ms: pct(0.90),
            p99_ms: pct(0.99),
            max_ms: lat.last().map(|&m| m as f64 / 1000.0).unwrap_or(0.0),
            errors,
            first_error,
            hostile: None,
        }
    }

    /// A one-line human summary (two with hostile clients).
    pub fn human(&self) -> String {
        let mut line = self.line();
        if let Some(h) = &self.hostile {
            line.push_str(&format!(
                "\n{:<22} stalled uploads {} in / {} refused  unread downloads {} in / {} refused  idle conns opened {}  daemon RSS {:.1} -> peak {:.1} MiB",
                "  hostile",
                h.stalled_uploads_admitted,
                h.stalled_uploads_refused,
                h.unread_downloads_admitted,
                h.unread_downloads_refused,
                h.idle_connections_opened,
                h.rss_start_mib,
                h.rss_peak_mib
            ));
        }
        line
    }

    fn line(&self) -> String {
        format!(
            "{:<22} size {:>9} B  conc {:>3}  {:>9.0} ops/s  {:>8.1} MB/s  p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            self.label,
            self.size,
            self.concurrency,
            self.ops_per_sec,
            self.mb_per_sec,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.errors
        )
    }
}
