//! Every metric attachd exports: names, help texts and labels are defined here and nowhere else.
//!
//! Naming follows Prometheus conventions (`attachd_` prefix, base units, `_total` for
//! counters, `_seconds`/`_bytes` suffixes). Label values come from small fixed sets (route
//! names, status classes, outcomes): never a project, user or attachment id.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// HTTP requests by route and status class.
pub const HTTP_REQUESTS: &str = "attachd_http_requests_total";
/// HTTP request latency by route and status class.
pub const HTTP_DURATION: &str = "attachd_http_request_duration_seconds";
/// Upload bytes accepted (committed).
pub const BYTES_UPLOADED: &str = "attachd_uploaded_bytes_total";
/// Download bytes sent by attachd itself (not through nginx).
pub const BYTES_DOWNLOADED: &str = "attachd_downloaded_bytes_total";
/// PUT outcomes.
pub const UPLOADS: &str = "attachd_uploads_total";
/// Reserve rejections by quota kind.
pub const QUOTA_REJECTIONS: &str = "attachd_quota_rejections_total";
/// Records per group commit.
pub const COMMIT_BATCH_RECORDS: &str = "attachd_group_commit_records";
/// Segment bytes per group commit.
pub const COMMIT_BATCH_BYTES: &str = "attachd_group_commit_bytes";
/// Group commit latency (segment write + fdatasync + synced index batch).
pub const COMMIT_DURATION: &str = "attachd_group_commit_duration_seconds";
/// Segment write + fdatasync latency per group commit.
pub const SEGMENT_WRITE_DURATION: &str = "attachd_segment_write_sync_duration_seconds";
/// Segment files.
pub const SEGMENTS: &str = "attachd_segments";
/// Live bytes in segments.
pub const SEGMENT_LIVE_BYTES: &str = "attachd_segment_live_bytes";
/// Dead (reclaimable) bytes in segments.
pub const SEGMENT_DEAD_BYTES: &str = "attachd_segment_dead_bytes";
/// Bytes reclaimed by compaction.
pub const COMPACTION_RECLAIMED: &str = "attachd_compaction_reclaimed_bytes_total";
/// Compaction pass duration.
pub const COMPACTION_DURATION: &str = "attachd_compaction_duration_seconds";
/// Items removed by cleanup, by pass.
pub const CLEANUP_REMOVED: &str = "attachd_cleanup_removed_total";
/// Cleanup runs by result.
pub const CLEANUP_RUNS: &str = "attachd_cleanup_runs_total";
/// Reservations waiting for their PUT.
pub const RESERVATIONS_PENDING: &str = "attachd_reservations_pending";
/// Free bytes on the data volume.
pub const DISK_FREE: &str = "attachd_disk_free_bytes";
/// Uploads running now.
pub const UPLOADS_IN_PROGRESS: &str = "attachd_uploads_in_progress";
/// Requests refused by the rate limiter.
pub const RATE_LIMITED: &str = "attachd_rate_limited_total";

/// Requests and connections refused because a limit was reached, by what (upload, download,
/// connection).
pub const SHED: &str = "attachd_shed_total";
/// Bytes held by request bodies and response chunks, by budget (upload, download).
pub const MEMORY_IN_USE: &str = "attachd_memory_budget_in_use_bytes";
/// Client connections open now.
pub const CONNECTIONS: &str = "attachd_connections";
/// Scan verdicts recorded, by outcome (clean, infected, failed).
pub const SCANS: &str = "attachd_scans_total";
/// Bytes sent to the content scanner.
pub const SCANNED_BYTES: &str = "attachd_scanned_bytes_total";
/// Time from opening a file for its scan to its verdict.
pub const SCAN_DURATION: &str = "attachd_scan_duration_seconds";
/// Files waiting for a scan.
pub const SCAN_QUEUE: &str = "attachd_scan_queue";
/// Webhook delivery attempts, by result (ok, failed).
pub const WEBHOOK_DELIVERIES: &str = "attachd_webhook_deliveries_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder (once per process; later calls are no-ops) and registers
/// every metric's help text.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            .expect("static buckets are valid");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle
    });
}

/// The exposition text for `/metrics` (empty until [`install`]).
pub fn render() -> String {
    HANDLE.get().map(|h| h.render()).unwrap_or_default()
}

/// Registers help texts and units (call once, after installing the recorder).
pub fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests handled, by route and status class.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency (to the response head), by route and status class."
    );
    describe_counter!(BYTES_UPLOADED, Unit::Bytes, "Bytes of uploads committed.");
    describe_counter!(BYTES_DOWNLOADED, Unit::Bytes, "Bytes of attachments sent by attachd itself.");
    describe_counter!(UPLOADS, "Upload (PUT) outcomes: ok, size_mismatch, hash_mismatch, aborted, error.");
    describe_counter!(QUOTA_REJECTIONS, "Reservations refused by quota, by kind (project, user).");
    describe_histogram!(COMMIT_BATCH_RECORDS, "Uploads committed per group commit.");
    describe_histogram!(COMMIT_BATCH_BYTES, Unit::Bytes, "Segment bytes written per group commit.");
    describe_histogram!(
        COMMIT_DURATION,
        Unit::Seconds,
        "Group commit latency: segment write, fdatasync and synced index batch."
    );
    describe_histogram!(
        SEGMENT_WRITE_DURATION,
        Unit::Seconds,
        "Latency of one group commit's segment write and fdatasync."
    );
    describe_gauge!(SEGMENTS, "Segment files.");
    describe_gauge!(SEGMENT_LIVE_BYTES, Unit::Bytes, "Bytes of live records in segments.");
    describe_gauge!(
        SEGMENT_DEAD_BYTES,
        Unit::Bytes,
        "Bytes in segments no record points at (reclaimable by compaction)."
    );
    describe_counter!(COMPACTION_RECLAIMED, Unit::Bytes, "Bytes of segment files removed by compaction.");
    describe_histogram!(COMPACTION_DURATION, Unit::Seconds, "Duration of compaction passes.");
    describe_counter!(
        CLEANUP_REMOVED,
        "Items removed by cleanup, by pass (soft_deleted, expired_reservations, orphans)."
    );
    describe_counter!(CLEANUP_RUNS, "Cleanup runs, by result (ok, error).");
    describe_gauge!(RESERVATIONS_PENDING, "Reservations not yet uploaded.");
    describe_gauge!(DISK_FREE, Unit::Bytes, "Free bytes on the data volume.");
    describe_gauge!(UPLOADS_IN_PROGRESS, "Uploads (PUTs) running now.");
    describe_counter!(RATE_LIMITED, "Requests refused with 429 by the per-key rate limiter.");
    describe_counter!(
        SHED,
        "Requests and connections refused with 503 because a limit was reached, by what (upload, download, connection)."
    );
    describe_gauge!(
        MEMORY_IN_USE,
        Unit::Bytes,
        "Bytes taken from a memory budget (upload, download) by request bodies and response chunks."
    );
    describe_gauge!(CONNECTIONS, "Client connections open on the public listener.");
    describe_counter!(SCANS, "Scan verdicts recorded, by outcome (clean, infected, failed).");
    describe_counter!(SCANNED_BYTES, Unit::Bytes, "Bytes of files scanned (verdict recorded).");
    describe_histogram!(SCAN_DURATION, Unit::Seconds, "Time from opening a file for its scan to its verdict.");
    describe_gauge!(SCAN_QUEUE, "Files waiting for a content scan.");
    describe_counter!(WEBHOOK_DELIVERIES, "Webhook delivery attempts, by result (ok, failed).");
}

/// A scan verdict was recorded.
pub fn scan_finished(outcome: &'static str, bytes: u64, elapsed: Duration) {
    counter!(SCANS, "outcome" => outcome).increment(1);
    counter!(SCANNED_BYTES).increment(bytes);
    histogram!(SCAN_DURATION).record(elapsed.as_secs_f64());
}

/// A webhook delivery attempt ended with `result`.
pub fn webhook_delivery(result: &'static str) {
    counter!(WEBHOOK_DELIVERIES, "result" => result).increment(1);
}

/// Files waiting for a scan now.
pub fn scan_queue(n: u64) {
    gauge!(SCAN_QUEUE).set(n as f64);
}

/// One HTTP request finished.
pub fn http_request(route: &'static str, status: u16, elapsed: Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    counter!(HTTP_REQUESTS, "route" => route, "status" => class).increment(1);
    histogram!(HTTP_DURATION, "route" => route, "status" => class).record(elapsed.as_secs_f64());
}

/// A PUT ended with `outcome`.
pub fn upload_outcome(outcome: &'static str) {
    counter!(UPLOADS, "outcome" => outcome).increment(1);
}

/// `n` upload bytes committed.
pub fn bytes_uploaded(n: u64) {
    counter!(BYTES_UPLOADED).increment(n);
}

/// `n` bytes sent to a downloader.
pub fn bytes_downloaded(n: u64) {
    counter!(BYTES_DOWNLOADED).increment(n);
}

/// A reserve was refused by the `kind` quota.
pub fn quota_rejected(kind: &'static str) {
    counter!(QUOTA_REJECTIONS, "kind" => kind).increment(1);
}

/// A group commit finished.
pub fn group_commit(records: usize, bytes: u64, elapsed: Duration) {
    histogram!(COMMIT_BATCH_RECORDS).record(records as f64);
    histogram!(COMMIT_BATCH_BYTES).record(bytes as f64);
    histogram!(COMMIT_DURATION).record(elapsed.as_secs_f64());
}

/// A group commit's segment write and fdatasync finished.
pub fn segment_write(elapsed: Duration) {
    histogram!(SEGMENT_WRITE_DURATION).record(elapsed.as_secs_f64());
}

/// Segment gauges.
pub fn segments(count: usize, live: u64, dead: u64) {
    gauge!(SEGMENTS).set(count as f64);
    gauge!(SEGMENT_LIVE_BYTES).set(live as f64);
    gauge!(SEGMENT_DEAD_BYTES).set(dead as f64);
}

/// A compaction pass finished.
pub fn compaction(reclaimed: u64, elapsed: Duration) {
    counter!(COMPACTION_RECLAIMED).increment(reclaimed);
    histogram!(COMPACTION_DURATION).record(elapsed.as_secs_f64());
}

/// Cleanup removed `n` items in `pass`.
pub fn cleanup_removed(pass: &'static str, n: u64) {
    counter!(CLEANUP_REMOVED, "pass" => pass).increment(n);
}

/// A cleanup run ended.
pub fn cleanup_run(ok: bool) {
    counter!(CLEANUP_RUNS, "result" => if ok { "ok" } else { "error" }).increment(1);
}

/// Point-in-time gauges sampled periodically.
pub fn sample(pending_reservations: usize, uploads_in_progress: usize) {
    gauge!(RESERVATIONS_PENDING).set(pending_reservations as f64);
    gauge!(UPLOADS_IN_PROGRESS).set(uploads_in_progress as f64);
}

/// Free bytes on the data volume (sampled by the backend).
pub fn disk_free(bytes: u64) {
    gauge!(DISK_FREE).set(bytes as f64);
}

/// A request or connection was refused by a limit.
pub fn shed(what: &'static str) {
    counter!(SHED, "what" => what).increment(1);
}

/// Memory budget gauges.
pub fn memory_in_use(upload: u64, download: u64) {
    gauge!(MEMORY_IN_USE, "budget" => "upload").set(upload as f64);
    gauge!(MEMORY_IN_USE, "budget" => "download").set(download as f64);
}

/// Connections open now changed by `delta`.
pub fn connections(delta: f64) {
    gauge!(CONNECTIONS).increment(delta);
}

/// A request was rate limited.
pub fn rate_limited() {
    counter!(RATE_LIMITED).increment(1);
}
