//! The `postgres_s3` backend: records, listings, usage, quotas, queues and the control plane in
//! PostgreSQL; bytes in an S3-compatible object store. Replicas hold no state of their own:
//! any number of them serve the same database and bucket behind a load balancer, and every
//! guarantee the engine's traits state is kept by PostgreSQL's transactions and the object
//! store's acknowledgements, never by one replica's memory.
//!
//! - `runner.rs`   — the backend's runtime and pool; blocking engine calls bridged onto it
//! - `schema.rs`   — the migrations, applied at start under an advisory lock
//! - `rows.rs`     — a record's row, parent rows and counter shares
//! - `catalog.rs`  — [`Catalog`]: transitions, usage, records
//! - `listing.rs`  — keyset listings, a page at a time
//! - `queues.rs`   — the jobs' queues, leased with `FOR UPDATE SKIP LOCKED`
//! - `reserve.rs`  — reservations counted by conditional `UPDATE`s
//! - `control.rs`  — the control plane
//! - `locks.rs`    — parent (slot) locks across replicas: advisory locks
//! - `sink.rs`, `blobs.rs`, `commit.rs` — bytes to the object store, then the catalog
//! - `housekeeping.rs` — orphan sweep, checks

mod blobs;
mod catalog;
mod commit;
mod control;
mod housekeeping;
mod listing;
mod locks;
mod queues;
mod reserve;
mod rows;
mod runner;
mod schema;
mod sink;

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, Checksum};

pub use blobs::S3Blobs;
pub use catalog::PgCatalog;
pub use runner::Runner;

use crate::engine::{Backend, Catalog, CatalogError};

/// Where the backend's database and bucket are.
#[derive(Debug, Clone)]
pub struct PgS3Config {
    /// `postgres://user:password@host:port/db` (or a libpq key=value string).
    pub postgres_url: String,
    /// Most connections per replica.
    pub postgres_pool_size: usize,
    /// The S3 endpoint (`http://host:port`; empty: AWS for the region).
    pub s3_endpoint: String,
    /// The region.
    pub s3_region: String,
    /// The bucket (must exist).
    pub s3_bucket: String,
    /// Access key id.
    pub s3_access_key_id: String,
    /// Secret access key.
    pub s3_secret_access_key: String,
    /// Path-style requests (`endpoint/bucket/key`), as most self-hosted stores need.
    pub s3_path_style: bool,
    /// A prefix for every key (e.g. `attachd/`), so a bucket can be shared.
    pub s3_prefix: String,
    /// Downloads: `0` streams them through attachd; otherwise each is a 302 to a presigned
    /// `GET` valid this many seconds (the store must be reachable by the clients).
    pub s3_presign_ttl_secs: u64,
}

/// The open backend.
pub struct PgS3Backend {
    catalog: Arc<PgCatalog>,
    blobs: Arc<S3Blobs>,
}

impl PgS3Backend {
    /// Connects, applies the migrations the database lacks, and builds the object-store client.
    pub fn open(cfg: &PgS3Config) -> Result<Arc<Self>, CatalogError> {
        let runner = Arc::new(Runner::new(&cfg.postgres_url, cfg.postgres_pool_size, 2)?);
        let pool = runner.pool().clone();
        let version = runner.run(async move {
            let mut c = pool.get().await.map_err(runner::pool_error)?;
            schema::migrate(&mut c).await
        })?;
        tracing::info!(version, "PostgreSQL schema ready");
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.s3_bucket)
            .with_region(&cfg.s3_region)
            .with_access_key_id(&cfg.s3_access_key_id)
            .with_secret_access_key(&cfg.s3_secret_access_key)
            .with_virtual_hosted_style_request(!cfg.s3_path_style)
            .with_checksum_algorithm(Checksum::SHA256);
        if !cfg.s3_endpoint.is_empty() {
            b = b.with_endpoint(&cfg.s3_endpoint).with_allow_http(cfg.s3_endpoint.starts_with("http://"));
        }
        let store = Arc::new(b.build().map_err(|e| CatalogError::Backend(format!("object store: {e}")))?);
        let catalog = Arc::new(PgCatalog { runner, replica: uuid::Uuid::new_v4() });
        let presign = (cfg.s3_presign_ttl_secs > 0)
            .then(|| (store.clone(), std::time::Duration::from_secs(cfg.s3_presign_ttl_secs)));
        let blobs = Arc::new(S3Blobs { store, prefix: cfg.s3_prefix.clone(), catalog: catalog.clone(), presign });
        Ok(Arc::new(Self { catalog, blobs }))
    }

    /// The catalog, blob store and housekeeping the service holds.
    pub fn parts(self: &Arc<Self>) -> Backend {
        Backend { catalog: self.catalog.clone(), blobs: self.blobs.clone(), housekeeping: self.clone() }
    }

    /// The catalog.
    pub fn catalog(&self) -> Arc<dyn Catalog> {
        self.catalog.clone()
    }

    /// The blob store.
    pub fn blobs(&self) -> Arc<S3Blobs> {
        self.blobs.clone()
    }
}
