//! The local backend: everything that exists only because the data lives on one machine —
//! the RocksDB index and the segment and standalone files (`crate::index`, `crate::store`), the
//! in-process stripes that make quota checks and record changes atomic, the group committer,
//! compaction, the orphan sweep, fsck and backup, and the [`Catalog`], [`BlobStore`] and
//! [`Housekeeping`] implementations over them, assembled by [`LocalBackend::open`].
//!
//! [`Catalog`]: crate::engine::Catalog
//! [`BlobStore`]: crate::engine::BlobStore
//! [`Housekeeping`]: crate::engine::Housekeeping

mod backend;
mod backup;
mod blobs;
mod catalog;
pub mod commit;
mod compaction;
mod control;
pub mod fsck;
mod orphans;
mod sink;

pub use backend::{LocalBackend, LocalConfig, OpenError};
pub use blobs::{LocalBlobConfig, LocalBlobs};
pub use catalog::LocalCatalog;
pub use commit::Committer;
