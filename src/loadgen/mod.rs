//! `attachd bench`: a load generator of our own, like `weed benchmark`, so attachd and its peers
//! are measured with the same client. One HTTP/1.1 keep-alive connection per worker (hyper),
//! payloads generated once and shared (`Bytes`), latency of every operation recorded.
//!
//! Targets: `attachd` (reserve + PUT, keys from bootstrap.json), `seaweedfs` (assign on the
//! master + multipart upload to the volume server, like `weed benchmark`), `webdav` (one PUT),
//! `discard` (one PUT to a server that throws the body away), `attachd-download` (GET of
//! signed URLs), `attachd-list` (pages of 50) and `attachd-form` (one multipart POST to the
//! product files API). With `--hostile-…`, hostile clients run beside
//! the workers (see `hostile`).

mod conn;
pub mod discard;
pub mod hostile;
mod report;
mod targets;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, ValueEnum};

pub use report::Report;

/// What to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// attachd: reserve (POST) + upload (PUT).
    Attachd,
    /// attachd: download signed URLs of attachments uploaded first.
    AttachdDownload,
    /// attachd: list pages of 50.
    AttachdList,
    /// attachd: reserve only (fills an index quickly).
    AttachdReserve,
    /// attachd: one multipart POST of the file to the product files API (seed 001) as a
    /// person (`--user-key`, `--form-path`); the payload starts with a PDF signature.
    AttachdForm,
    /// SeaweedFS: GET /dir/assign on the master, then multipart POST to the volume server.
    Seaweedfs,
    /// SeaweedFS: GET of files uploaded first.
    SeaweedfsDownload,
    /// nginx WebDAV (or any server taking PUT <url>/<n>).
    Webdav,
    /// A server that reads and discards the body.
    Discard,
}

/// `attachd bench` arguments.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// What to load.
    #[arg(value_enum)]
    pub target: Target,
    /// Base URL (attachd, the SeaweedFS master, the WebDAV root or the discard server).
    #[arg(long, default_value = "http://127.0.0.1:7380")]
    pub url: String,
    /// attachd: bootstrap.json with the keys.
    #[arg(long, default_value = "data/bootstrap.json")]
    pub bootstrap: std::path::PathBuf,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Concurrent clients (one connection each).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Stop after this many operations in total (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub ops: u64,
    /// SeaweedFS: ask the volume server to fsync each write (`?fsync=true`).
    #[arg(long)]
    pub fsync: bool,
    /// attachd-download: how many attachments to upload first and then read in turn.
    #[arg(long, default_value_t = 256)]
    pub objects: usize,
    /// attachd-form: a user-bound key (the bearer).
    #[arg(long, env = "ATTACHD_BENCH_USER_KEY", hide_env_values = true, default_value = "")]
    pub user_key: String,
    /// attachd-form: the product's attachments path.
    #[arg(long, default_value = "/catalog/spaces/bench/products/bench/attachments")]
    pub form_path: String,
    /// Label for the report (defaults to the target name).
    #[arg(long)]
    pub label: Option<String>,
    /// Hostile clients held open while the workers run (attachd targets).
    #[command(flatten)]
    pub hostile: hostile::HostileArgs,
}

/// Runs a benchmark and returns its report.
pub async fn run(args: BenchArgs) -> Result<Report, String> {
    let payload = Bytes::from(crate::loadgen::targets::payload(args.size));
    let plan = Arc::new(targets::Plan::prepare(&args, payload).await?);
    let (authority, client_auth, agent_auth) = plan.endpoint();
    let hostile = hostile::start(&args.hostile, authority, client_auth, agent_auth).await?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(if args.ops == 0 { u64::MAX } else { args.ops }));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for w in 0..args.concurrency {
        let (plan, budget) = (plan.clone(), budget.clone());
        tasks.push(tokio::spawn(async move { targets::worker(plan, w, deadline, budget).await }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut first_error = None;
    for t in tasks {
        let r = t.await.map_err(|e| e.to_string())?;
        latencies.extend(r.latencies_us);
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    let elapsed = started.elapsed();
    let label = args
        .label
        .clone()
        .or_else(|| args.target.to_possible_value().map(|v| v.get_name().to_string()))
        .unwrap_or_default();
    let mut report = Report::new(label, &args, elapsed, latencies, errors, first_error);
    if let Some(h) = hostile {
        report.hostile = Some(h.finish().await);
    }
    Ok(report)
}
