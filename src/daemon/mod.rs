//! The composition root: open the data directory, recover, bind, serve, drain.
//!
//! Startup, in order (each stage logged): lock the data directory; start the ops listener
//! (`/health` 200, `/ready` 503 until ready); bind the public listener (its address is the
//! default public URL); load or create the generated secrets; open the index (RocksDB replays
//! its WAL); open the store (segments whose tail a crash left torn are cut and sealed); start
//! the group committer; refuse to start if a repair was interrupted; bootstrap on first start;
//! start the background jobs; announce the public address; mark ready.
//! On SIGTERM/SIGINT: mark not ready and refuse new reservations and uploads (503, which SDKs
//! retry), stop accepting, let in-flight requests finish up to `shutdown_grace_secs`, stop
//! the jobs, drain the committer, seal the active segment, flush the index, exit 0.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod jobs;
pub mod migrate;
mod mount;

use jobs::start_jobs;
use mount::http_state;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{AdminApi, Config};
use crate::http::server::{ServerLimits, serve};
use crate::local::{LocalBackend, LocalConfig};
use crate::service::bootstrap::write_file_atomic;
use crate::service::jwt::JwtRules;
use crate::service::{Service, ServiceConfig};

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The data directory is unusable or locked.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Binding a listener failed.
    #[error("bind {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The backend failed to open (or to recover).
    #[error("{0}")]
    Backend(#[from] crate::local::OpenError),
    /// Anything else at startup.
    #[error("{0}")]
    Other(String),
}

/// Secrets generated on first start when the config leaves them empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Secrets {
    jwt_secret: String,
    download_signing_secret: String,
}

/// Options that are not configuration.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// Where to write the bound address once serving (line 1; line 2 is `ops <addr>` when the
    /// ops listener is enabled).
    pub ready_file: Option<PathBuf>,
    /// Called with the bound public address (tests and benches running in-process).
    pub on_bound: Option<tokio::sync::mpsc::UnboundedSender<SocketAddr>>,
    /// Write engine to use instead of the configured one (fault-injection tests).
    pub engine: Option<Arc<dyn crate::store::io::IoEngine>>,
    /// Hook that sees every index commit (the power-loss test).
    pub index_hook: Option<Arc<dyn crate::index::CommitHook>>,
}

/// An exclusive lock on the data directory, held while the daemon runs.
pub struct DataDirLock(#[allow(dead_code)] std::fs::File);

/// Creates `data_dir` and takes its lock.
pub fn lock_data_dir(data_dir: &Path) -> Result<DataDirLock, DaemonError> {
    let err = |reason: String| DaemonError::DataDir { path: data_dir.to_path_buf(), reason };
    std::fs::create_dir_all(data_dir).map_err(|e| err(format!("create: {e}")))?;
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("attachd.lock"))
        .map_err(|e| err(format!("open lock file: {e}")))?;
    // SAFETY: flock on an owned descriptor.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(err("another attachd process is using it".into()));
    }
    Ok(DataDirLock(f))
}

fn load_secrets(cfg: &Config) -> Result<Secrets, DaemonError> {
    let path = cfg.storage.data_dir.join("secrets.json");
    let mut s = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| DaemonError::Other(format!("read {}: {e}", path.display())))?,
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            // Regenerating would silently invalidate every JWT and download URL.
            return Err(DaemonError::Other(format!("read {}: {e}", path.display())));
        }
        Err(_) => {
            if cfg.storage.data_dir.join("index").exists() {
                tracing::warn!(
                    "secrets.json is missing from an existing data directory (a restored backup?): \
                     generating new signing secrets; outstanding download URLs and JWTs minted by \
                     this daemon stop working unless auth.jwt_secret / auth.download_signing_secret are configured"
                );
            }
            let s = Secrets {
                jwt_secret: crate::service::admin::random_secret(),
                download_signing_secret: crate::service::admin::random_secret(),
            };
            write_file_atomic(&path, &serde_json::to_vec_pretty(&s).expect("serializes"), 0o600)
                .map_err(|e| DaemonError::Other(format!("write {}: {e}", path.display())))?;
            s
        }
    };
    if !cfg.auth.jwt_secret.is_empty() {
        s.jwt_secret = cfg.auth.jwt_secret.clone();
        if cfg.auth.jwt_audience.is_empty() && cfg.auth.jwt_issuer.is_empty() {
            tracing::warn!(
                "auth.jwt_audience and auth.jwt_issuer are unset: any unexpired token the identity provider \
                 signs with this secret is accepted, including tokens meant for other services"
            );
        }
    }
    if !cfg.auth.download_signing_secret.is_empty() {
        s.download_signing_secret = cfg.auth.download_signing_secret.clone();
    }
    Ok(s)
}

/// Opens the backend under the configured data directory and the service over it (also used
/// by offline commands such as `attachd cleanup --offline`).
pub fn open_service(
    cfg: &Config,
    public_url: String,
    engine: Option<Arc<dyn crate::store::io::IoEngine>>,
) -> Result<Arc<Service>, DaemonError> {
    open_service_with(cfg, public_url, engine, None)
}

/// The local backend's settings, from `[storage]`, `[cleanup]` and `[downloads]`.
pub fn local_config(cfg: &Config) -> LocalConfig {
    LocalConfig {
        data_dir: cfg.storage.data_dir.clone(),
        io_engine: cfg.storage.io_engine,
        segment_bytes: cfg.storage.segment_bytes,
        standalone_threshold: cfg.storage.standalone_threshold_bytes,
        min_free_bytes: cfg.storage.min_free_bytes,
        max_commit_batch_bytes: cfg.storage.max_commit_batch_bytes,
        compaction_live_ratio: cfg.cleanup.compaction_live_ratio,
        compaction_bytes_per_sec: cfg.cleanup.compaction_bytes_per_sec,
        x_accel_prefix: cfg.downloads.x_accel_prefix.clone(),
    }
}

/// [`open_service`] with a hook on every index commit (the power-loss test).
pub fn open_service_with(
    cfg: &Config,
    public_url: String,
    engine: Option<Arc<dyn crate::store::io::IoEngine>>,
    index_hook: Option<Arc<dyn crate::index::CommitHook>>,
) -> Result<Arc<Service>, DaemonError> {
    let secrets = load_secrets(cfg)?;
    let local = local_config(cfg);
    let parts = match cfg.backend.kind {
        crate::config::BackendKind::Local => LocalBackend::open(local, engine, index_hook)?.parts(),
        crate::config::BackendKind::PostgresS3 => {
            tracing::info!("opening the postgres_s3 backend (PostgreSQL and the object store)");
            crate::postgres_s3::PgS3Backend::open(&cfg.backend.postgres_s3())
                .map_err(|e| DaemonError::Other(format!("open the postgres_s3 backend: {e}")))?
                .parts()
        }
    };
    let scfg = ServiceConfig {
        public_url,
        download_ttl: Duration::from_secs(cfg.auth.download_url_ttl_secs),
        reservation_ttl: Duration::from_secs(cfg.uploads.reservation_ttl_secs),
        default_project_quota: cfg.quota.project_bytes,
        default_user_quota: cfg.quota.user_bytes,
        soft_delete_grace: Duration::from_secs(cfg.cleanup.soft_delete_grace_secs),
        orphan_grace: Duration::from_secs(cfg.cleanup.orphan_grace_secs),
        rate_limit: cfg.rate_limit.enabled.then_some((cfg.rate_limit.burst, cfg.rate_limit.per_second)),
        backup_dir: cfg.storage.backup_dir.clone(),
        max_pending_per_project: cfg.uploads.max_pending_per_project,
        max_pending_bytes_per_project: cfg.uploads.max_pending_bytes_per_project,
        upload_memory_bytes: cfg.server.upload_memory_bytes,
        download_memory_bytes: cfg.server.download_memory_bytes,
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let jwt_rules = JwtRules { audience: non_empty(&cfg.auth.jwt_audience), issuer: non_empty(&cfg.auth.jwt_issuer) };
    Ok(Service::new(scfg, parts, secrets.download_signing_secret.as_bytes(), secrets.jwt_secret.as_bytes(), jwt_rules))
}

/// Runs the daemon until `shutdown` resolves.
pub async fn run(cfg: Config, opts: RunOptions, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let data_dir = cfg.storage.data_dir.clone();
    let _lock = lock_data_dir(&data_dir)?;
    tracing::info!(data_dir = %data_dir.display(), "starting attachd {}", env!("CARGO_PKG_VERSION"));
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (stop_tx, stop_rx) = watch::channel(false);
    let ops_slot = crate::http::ops::OpsSlot::default();
    let ops_bound = start_ops_listener(&cfg, &ready, &ops_slot, &stop_rx).await?;
    let (listener, bound) = bind_public(&cfg).await?;
    let public_url = public_url(&cfg, bound);
    let service = open_and_bootstrap(&cfg, &opts, public_url.clone())?;
    let (jobs, cleanup) = start_jobs(&cfg, &service, &stop_rx);
    let state = http_state(&cfg, &service, cleanup, &ready);
    if cfg.server.admin_api == AdminApi::Ops {
        let _ = ops_slot.set(state.clone());
    }
    let limits = server_limits(&cfg);
    announce(&opts, bound, &public_url, ops_bound)?;
    ready.store(true, std::sync::atomic::Ordering::SeqCst);
    notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!("ready");

    let drain = drain_on(shutdown, service.clone(), ready.clone());
    let clean = serve(listener, state, limits, drain).await;
    let _ = stop_tx.send(true);
    for j in jobs {
        let _ = j.await;
    }
    tokio::task::block_in_place(|| close_storage(&service));
    tracing::info!(clean, "stopped");
    Ok(())
}

/// Binds and serves the ops listener (`/metrics`, `/health`, `/ready`, and the admin API when
/// it is placed there) unless `metrics.listen` is empty; returns its bound address.
async fn start_ops_listener(
    cfg: &Config,
    ready: &Arc<std::sync::atomic::AtomicBool>,
    ops_slot: &crate::http::ops::OpsSlot,
    stop_rx: &watch::Receiver<bool>,
) -> Result<Option<SocketAddr>, DaemonError> {
    if cfg.metrics.listen.is_empty() {
        return Ok(None);
    }
    let addr = cfg.metrics.listen.clone();
    let listener = TcpListener::bind(&addr).await.map_err(|source| DaemonError::Bind { addr: addr.clone(), source })?;
    let ops_bound = listener.local_addr().ok();
    tracing::info!(addr = ?ops_bound, "ops listener (/metrics, /health, /ready) bound");
    tokio::spawn(crate::http::ops::serve_ops(listener, ready.clone(), ops_slot.clone(), stop_rx.clone()));
    Ok(ops_bound)
}

/// Binds the public listener on `server.listen`; returns it with its bound address.
async fn bind_public(cfg: &Config) -> Result<(TcpListener, SocketAddr), DaemonError> {
    let listener = TcpListener::bind(&cfg.server.listen)
        .await
        .map_err(|source| DaemonError::Bind { addr: cfg.server.listen.clone(), source })?;
    let bound = listener.local_addr().map_err(|e| DaemonError::Other(format!("read bound address: {e}")))?;
    Ok((listener, bound))
}

/// `server.public_url` without its trailing slashes, or `http://<bound>` when it is unset.
fn public_url(cfg: &Config, bound: SocketAddr) -> String {
    if cfg.server.public_url.is_empty() {
        format!("http://{bound}")
    } else {
        cfg.server.public_url.trim_end_matches('/').to_string()
    }
}

/// Opens the service, refuses to go on if a repair was interrupted, and bootstraps an empty
/// data directory (printing where the first admin token and API keys went).
fn open_and_bootstrap(cfg: &Config, opts: &RunOptions, public_url: String) -> Result<Arc<Service>, DaemonError> {
    let service = tokio::task::block_in_place(|| {
        open_service_with(cfg, public_url, opts.engine.clone(), opts.index_hook.clone())
    })?;
    service.refuse_if_repair_interrupted().map_err(|e| DaemonError::Other(e.to_string()))?;
    if let Some(path) =
        service.bootstrap_if_empty(&cfg.storage.data_dir).map_err(|e| DaemonError::Other(e.to_string()))?
    {
        println!("attachd: first start: admin token and API keys written to {}", path.display());
    }
    Ok(service)
}

/// The public server's connection limits and timeouts, from `[server]`.
fn server_limits(cfg: &Config) -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(cfg.server.header_timeout_secs),
        max_header_bytes: cfg.server.max_header_bytes,
        shutdown_grace: Duration::from_secs(cfg.server.shutdown_grace_secs),
        max_connections: cfg.server.max_connections,
        send_timeout: Duration::from_secs(cfg.server.send_timeout_secs),
    }
}

/// Tells the world where the daemon listens: stdout, the ready file and the `on_bound` channel.
fn announce(
    opts: &RunOptions,
    bound: SocketAddr,
    public_url: &str,
    ops_bound: Option<SocketAddr>,
) -> Result<(), DaemonError> {
    println!("attachd: listening on {bound} (public URL {public_url})");
    if let Some(path) = &opts.ready_file {
        // Line 1: the public address; line 2 (when enabled): `ops <address>`.
        let mut text = format!("{bound}\n");
        if let Some(ops) = ops_bound {
            text.push_str(&format!("ops {ops}\n"));
        }
        write_file_atomic(path, text.as_bytes(), 0o644)
            .map_err(|e| DaemonError::Other(format!("write ready file {}: {e}", path.display())))?;
    }
    if let Some(tx) = &opts.on_bound {
        let _ = tx.send(bound);
    }
    Ok(())
}

/// Waits for `shutdown`, then starts draining: not ready (for systemd, `/ready` and the HTTP
/// state) and new reservations and uploads refused.
async fn drain_on(
    shutdown: impl Future<Output = ()>,
    service: Arc<Service>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    shutdown.await;
    tracing::info!("shutdown requested: draining");
    notify(&[sd_notify::NotifyState::Stopping]);
    ready.store(false, std::sync::atomic::Ordering::SeqCst);
    service.start_draining();
}

/// After serving: the backend finishes queued writes and closes as a clean shutdown does
/// (blocking; on the local backend a failed seal or flush is logged, recovery covers it).
fn close_storage(service: &Service) {
    service.shutdown();
}

/// Tells systemd (Type=notify) about a state change; a no-op outside systemd.
fn notify(state: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(state) {
            tracing::warn!(error = %e, "sd_notify failed");
        }
    }
}
