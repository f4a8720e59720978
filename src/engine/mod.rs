//! The boundary between the service and the backends: the [`Catalog`] of records, listings,
//! usage and quotas, the [`BlobStore`] of their bytes, and the backend's [`Housekeeping`]
//! (orphan sweep, compaction, fsck, backup), written in terms of the neutral model
//! (`crate::model`) only.
//!
//! The service holds a `dyn Catalog` and a `dyn BlobStore` for requests, and its jobs and
//! admin operations a `dyn Housekeeping`; it calls nothing below them. A backend implements
//! them (`crate::local` on RocksDB and local files today). What a backend must guarantee is
//! stated on each method and checked for every backend by the conformance suite
//! (`engine::conformance`), so a second backend is held to exactly the same tests.

mod blobs;
mod catalog;
pub mod conformance;
mod control;
mod housekeeping;

pub use blobs::{
    Access, BlobError, BlobResult, BlobSink, BlobStore, BodyPlan, BodySize, BoxFuture, Commit, Hold, Measured, Opened,
    RangeRead, Staged, Verify,
};
pub use catalog::{Catalog, CatalogError, CatalogResult, Durability, ReserveLimits};
pub use control::ControlPlane;
pub use housekeeping::{BackupReport, CompactionReport, FsckReport, Housekeeping, Problem, UploadGuard};

/// What a backend hands the service: its catalog, its blob store and its housekeeping.
#[derive(Clone)]
pub struct Backend {
    /// Records, listings, usage, quotas and the control plane.
    pub catalog: std::sync::Arc<dyn Catalog>,
    /// Attachment bytes.
    pub blobs: std::sync::Arc<dyn BlobStore>,
    /// Orphan sweep, compaction, fsck, backup, gauges and closing.
    pub housekeeping: std::sync::Arc<dyn Housekeeping>,
}
