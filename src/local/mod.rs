//! The local backend: everything that exists only because the data lives on one machine —
//! the RocksDB index and the segment and standalone files (`crate::index`, `crate::store`), the
//! in-process stripes that make quota checks and record changes atomic, the group committer,
//! and the [`Catalog`] and [`BlobStore`] implementations over them.
//!
//! [`Catalog`]: crate::engine::Catalog
//! [`BlobStore`]: crate::engine::BlobStore

mod blobs;
mod catalog;
pub mod commit;
mod sink;
pub mod stripes;

pub use blobs::{LocalBlobConfig, LocalBlobs};
pub use catalog::LocalCatalog;
pub use commit::Committer;
pub use stripes::Stripes;
