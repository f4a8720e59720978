//! The service layer: the attachment API's operations on typed inputs, with domain errors.
//!
//! One file per operation (reserve, upload, listing, download, delete, usage, link, admin),
//! sharing the [`Service`] state defined here. Nothing here imports hyper: request bodies
//! arrive through the [`upload::BodySource`] trait and results are plain structs. Records,
//! listings, usage and quotas are reached only through the [`Catalog`] (`crate::engine`): a
//! reserve is one atomic quota-checked call, and every other change is a compare-and-set
//! transition from the record as read, retried when another change won. Bytes go through the
//! [`BlobStore`], and the jobs' and operators' housekeeping through [`Housekeeping`]; the
//! control plane (teams, projects, apps, keys, members, admin tokens, event links) is the
//! catalog's other half. A reserve and a link of the same client event id are serialised by
//! `link_locks`.

pub mod admin;
pub mod auth;
pub mod bootstrap;
pub mod budget;
pub mod cache;
pub mod delete;
pub mod direct;
pub mod download;
pub mod error;
pub mod events;
pub mod files;
pub mod hosts;
pub mod jwt;
pub mod link;
pub mod listing;
pub mod locks;
pub mod maintenance;
pub mod notify;
pub mod people;
pub mod ratelimit;
pub mod records;
pub mod reserve;
pub mod scan;
pub mod signed;
pub mod token;
pub mod upload;
pub mod upload_token;
pub mod usage;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::engine::{Backend, BlobStore, Catalog, Housekeeping};
use crate::model::control::ControlChange;
use crate::stripes::Stripes;

pub use crate::model::control::{ApiKey, App, KeyKind, Project, Role, Team};
pub use auth::{Admitted, Op, Principal};
pub use error::{Result, ServiceError};
pub use locks::{InProgress, UploadClaim};

/// Settings the service needs, resolved from the configuration at start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Base of `upload_url`/`download_url`, without a trailing slash.
    pub public_url: String,
    /// Download token lifetime.
    pub download_ttl: Duration,
    /// Reservation lifetime.
    pub reservation_ttl: Duration,
    /// Default project quota.
    pub default_project_quota: u64,
    /// Default per-user quota.
    pub default_user_quota: u64,
    /// Soft-delete grace before cleanup reclaims.
    pub soft_delete_grace: Duration,
    /// Age at which unreferenced blob files are swept.
    pub orphan_grace: Duration,
    /// Rate limit (burst, per second), if enabled.
    pub rate_limit: Option<(u32, f64)>,
    /// Most reservations a project may hold not yet uploaded.
    pub max_pending_per_project: u64,
    /// Most declared bytes a project's pending reservations may add up to.
    pub max_pending_bytes_per_project: u64,
    /// Where backups are written (empty: backups disabled).
    pub backup_dir: std::path::PathBuf,
    /// Bytes upload bodies may hold in memory at once (see `budget`).
    pub upload_memory_bytes: u64,
    /// Bytes download chunks may hold in memory at once.
    pub download_memory_bytes: u64,
}

/// The service: shared state behind every operation.
pub struct Service {
    pub(crate) cfg: ServiceConfig,
    /// Records, listings, usage, quotas and the control plane.
    pub(crate) catalog: Arc<dyn Catalog>,
    /// Attachment bytes.
    pub(crate) blobs: Arc<dyn BlobStore>,
    /// The backend's orphan sweep, compaction, fsck, backup and shutdown.
    pub(crate) housekeeping: Arc<dyn Housekeeping>,
    pub(crate) signer: token::TokenSigner,
    pub(crate) upload_signer: upload_token::UploadSigner,
    pub(crate) jwt: jwt::JwtVerifier,
    /// Per client event id: serialises a reserve's link lookup with the link endpoint.
    pub(crate) link_locks: Stripes,
    pub(crate) uploads: InProgress,
    /// Per slot: serialises the reserve-and-commit of direct uploads into one slot.
    pub(crate) slot_locks: locks::SlotLocks,
    /// Keys, apps and projects, cached for the hot paths.
    pub(crate) control: cache::ControlCache,
    pub(crate) limiter: Option<ratelimit::RateLimiter>,
    pub(crate) upload_budget: budget::MemoryBudget,
    pub(crate) download_budget: budget::MemoryBudget,
    /// What the scan worker last saw of the content scanner.
    pub(crate) scan_health: scan::HealthCell,
    /// The content scanner, when one is configured (set once at start).
    pub(crate) scanner: std::sync::OnceLock<crate::scanner::Clamd>,
    /// Wakes the scan worker when an upload queued a file.
    pub(crate) scan_wake: tokio::sync::Notify,
    /// Wakes the webhook worker when a notice was queued.
    pub(crate) notice_wake: tokio::sync::Notify,
    /// Held by cleanup, fsck and backups: they never run at the same time.
    pub(crate) maintenance: Mutex<()>,
    /// Serialises admin token revocations (the last token must survive).
    pub(crate) admin_token_lock: Mutex<()>,
    draining: AtomicBool,
    me: Weak<Service>,
}

impl Service {
    /// Builds the service over an opened backend.
    pub fn new(
        cfg: ServiceConfig,
        backend: Backend,
        download_secret: &[u8],
        jwt_secret: &[u8],
        jwt_rules: jwt::JwtRules,
    ) -> Arc<Self> {
        let limiter = cfg.rate_limit.map(|(b, r)| ratelimit::RateLimiter::new(b, r));
        let upload_budget =
            budget::MemoryBudget::new(cfg.upload_memory_bytes, "upload", "too many upload bytes in flight");
        let download_budget =
            budget::MemoryBudget::new(cfg.download_memory_bytes, "download", "too many download bytes in flight");
        Arc::new_cyclic(|me| Self {
            signer: token::TokenSigner::new(download_secret),
            upload_signer: upload_token::UploadSigner::new(download_secret),
            jwt: jwt::JwtVerifier::new(jwt_secret, jwt_rules),
            cfg,
            catalog: backend.catalog,
            blobs: backend.blobs,
            housekeeping: backend.housekeeping,
            link_locks: Stripes::new(256),
            uploads: InProgress::default(),
            slot_locks: locks::SlotLocks::default(),
            control: cache::ControlCache::default(),
            limiter,
            upload_budget,
            download_budget,
            scan_health: scan::HealthCell::default(),
            scanner: std::sync::OnceLock::new(),
            scan_wake: tokio::sync::Notify::new(),
            notice_wake: tokio::sync::Notify::new(),
            maintenance: Mutex::new(()),
            admin_token_lock: Mutex::new(()),
            draining: AtomicBool::new(false),
            me: me.clone(),
        })
    }

    /// A strong handle to this service (for work moved to blocking threads).
    pub(crate) fn me(&self) -> Arc<Service> {
        self.me.upgrade().expect("the service is only used while its Arc is alive")
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// The backend's housekeeping (for the cleanup job and the sampler, which hold the
    /// maintenance lock where they need it).
    pub(crate) fn housekeeping(&self) -> &Arc<dyn Housekeeping> {
        &self.housekeeping
    }

    /// The resolved settings.
    pub fn config(&self) -> &ServiceConfig {
        &self.cfg
    }

    /// Bytes held now by upload bodies and by download chunks.
    pub fn memory_in_use(&self) -> (u64, u64) {
        (self.upload_budget.in_use(), self.download_budget.in_use())
    }

    /// Uploads running now.
    pub fn uploads_in_progress(&self) -> usize {
        self.uploads.len()
    }

    /// Starts draining: new uploads and reservations are refused with a retryable error.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the service is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Applies control-plane changes (atomic, synced) and drops the cached copies.
    pub(crate) fn commit_control(&self, changes: Vec<ControlChange>) -> Result<()> {
        self.catalog.apply_control(changes)?;
        self.control.clear();
        Ok(())
    }

    /// Drops the cached control plane if another process sharing the catalog changed it;
    /// returns whether it did (the control watch calls this every second).
    pub fn refresh_control(&self) -> Result<bool> {
        Ok(self.control.refresh(&*self.catalog)?)
    }

    fn refuse_if_draining(&self) -> Result<()> {
        if self.is_draining() { Err(ServiceError::Unavailable) } else { Ok(()) }
    }

    /// Finishes every queued write and closes the backend as a clean shutdown does.
    pub fn shutdown(&self) {
        self.housekeeping.close();
    }
}
