//! The service layer: the attachment API's operations on typed inputs, with domain errors.
//!
//! One file per operation (reserve, upload, listing, download, delete, usage, link, admin),
//! sharing the [`Service`] state defined here. Nothing here imports hyper: request bodies
//! arrive through the [`upload::BodySource`] trait and results are plain structs. Records,
//! listings, usage and quotas are reached only through the [`Catalog`] (`crate::engine`): a
//! reserve is one atomic quota-checked call, and every other change is a compare-and-set
//! transition from the record as read, retried when another change won. The group committer
//! and the control plane still reach the local index directly (moving into the local backend
//! next). A reserve and a link of the same client event id are serialised by `link_locks`.

pub mod admin;
pub mod auth;
pub mod backup;
pub mod bootstrap;
pub mod budget;
pub mod cache;
pub mod delete;
pub mod download;
pub mod error;
pub mod events;
pub mod fsck;
pub mod jwt;
pub mod link;
pub mod listing;
pub mod locks;
pub mod ratelimit;
pub mod reserve;
pub mod token;
pub mod upload;
pub mod usage;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::engine::{BlobStore, Catalog};
use crate::index::Index;
use crate::local::{Committer, LocalBlobConfig, LocalBlobs, LocalCatalog, Stripes};
use crate::store::Store;

pub use crate::index::control::{ApiKey, App, KeyKind, Project, Role, Team};
pub use auth::{Admitted, Op, Principal};
pub use error::{Result, ServiceError};
pub use locks::{InProgress, UploadClaim};

/// Settings the service needs, resolved from the configuration at start.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The data directory (for backups of its top-level files).
    pub data_dir: std::path::PathBuf,
    /// Base of `upload_url`/`download_url`, without a trailing slash.
    pub public_url: String,
    /// Download token lifetime.
    pub download_ttl: Duration,
    /// Reservation lifetime.
    pub reservation_ttl: Duration,
    /// Largest attachment stored in a segment.
    pub standalone_threshold: u64,
    /// Default project quota.
    pub default_project_quota: u64,
    /// Default per-user quota.
    pub default_user_quota: u64,
    /// Free space an upload must leave on the data volume.
    pub min_free_bytes: u64,
    /// Most bytes per group commit.
    pub max_commit_batch_bytes: u64,
    /// Soft-delete grace before cleanup reclaims.
    pub soft_delete_grace: Duration,
    /// Age at which unreferenced blob files are swept.
    pub orphan_grace: Duration,
    /// Live fraction below which a sealed segment is compacted.
    pub compaction_live_ratio: f64,
    /// Compaction copy throttle.
    pub compaction_bytes_per_sec: u64,
    /// X-Accel-Redirect internal location prefix (empty = serve bytes ourselves).
    pub x_accel_prefix: String,
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
    pub(crate) index: Arc<Index>,
    /// Records, listings, usage and quotas.
    pub(crate) catalog: Arc<dyn Catalog>,
    /// The same catalog as the local backend (its quota stripes, for control-plane changes).
    pub(crate) local: Arc<LocalCatalog>,
    pub(crate) store: Arc<Store>,
    /// Attachment bytes.
    pub(crate) blobs: Arc<dyn BlobStore>,
    /// The local backend's group committer (compaction relocates records through it).
    pub(crate) committer: Arc<Committer>,
    pub(crate) signer: token::TokenSigner,
    pub(crate) jwt: jwt::JwtVerifier,
    /// Per client event id: serialises a reserve's link lookup with the link endpoint.
    pub(crate) link_locks: Stripes,
    pub(crate) uploads: InProgress,
    /// Keys, apps and projects, cached for the hot paths.
    pub(crate) control: cache::ControlCache,
    pub(crate) limiter: Option<ratelimit::RateLimiter>,
    pub(crate) upload_budget: budget::MemoryBudget,
    pub(crate) download_budget: budget::MemoryBudget,
    /// Held by cleanup/compaction and by backups: they never run at the same time.
    pub(crate) maintenance: Mutex<()>,
    /// Serialises admin token revocations (the last token must survive).
    pub(crate) admin_token_lock: Mutex<()>,
    draining: AtomicBool,
    me: Weak<Service>,
}

impl Service {
    /// Builds the service and starts its group committer.
    pub fn new(
        cfg: ServiceConfig,
        index: Arc<Index>,
        store: Arc<Store>,
        download_secret: &[u8],
        jwt_secret: &[u8],
        jwt_rules: jwt::JwtRules,
    ) -> std::io::Result<Arc<Self>> {
        let local = Arc::new(LocalCatalog::new(index.clone()));
        let limiter = cfg.rate_limit.map(|(b, r)| ratelimit::RateLimiter::new(b, r));
        let upload_budget =
            budget::MemoryBudget::new(cfg.upload_memory_bytes, "upload", "too many upload bytes in flight");
        let download_budget =
            budget::MemoryBudget::new(cfg.download_memory_bytes, "download", "too many download bytes in flight");
        let committer = Arc::new(Committer::start(
            index.clone(),
            store.clone(),
            local.record_locks().clone(),
            cfg.max_commit_batch_bytes,
        )?);
        let blob_cfg = LocalBlobConfig {
            data_dir: cfg.data_dir.clone(),
            standalone_threshold: cfg.standalone_threshold,
            min_free_bytes: cfg.min_free_bytes,
            x_accel_prefix: cfg.x_accel_prefix.clone(),
        };
        let blobs = Arc::new(LocalBlobs::new(blob_cfg, index.clone(), store.clone(), committer.clone()));
        Ok(Arc::new_cyclic(|me| Self {
            signer: token::TokenSigner::new(download_secret),
            jwt: jwt::JwtVerifier::new(jwt_secret, jwt_rules),
            cfg,
            index,
            catalog: local.clone(),
            local,
            store,
            blobs,
            committer,
            link_locks: Stripes::new(256),
            uploads: InProgress::default(),
            control: cache::ControlCache::default(),
            limiter,
            upload_budget,
            download_budget,
            maintenance: Mutex::new(()),
            admin_token_lock: Mutex::new(()),
            draining: AtomicBool::new(false),
            me: me.clone(),
        }))
    }

    /// A strong handle to this service (for work moved to blocking threads).
    pub(crate) fn me(&self) -> Arc<Service> {
        self.me.upgrade().expect("the service is only used while its Arc is alive")
    }

    /// The catalog.
    pub fn catalog(&self) -> &Arc<dyn Catalog> {
        &self.catalog
    }

    /// The index (for workers and fsck).
    pub fn index(&self) -> &Arc<Index> {
        &self.index
    }

    /// The store (for workers and fsck).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
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

    /// Commits a control-plane change (synced) and drops the cached copies.
    pub(crate) fn commit_control(&self, batch: crate::index::Batch<'_>) -> Result<()> {
        batch.commit(true)?;
        self.control.clear();
        self.local.forget_projects();
        Ok(())
    }

    fn refuse_if_draining(&self) -> Result<()> {
        if self.is_draining() { Err(ServiceError::Unavailable) } else { Ok(()) }
    }

    /// Waits for the committer to finish everything queued (shutdown).
    pub fn shutdown(&self) {
        self.committer.shutdown();
    }
}
