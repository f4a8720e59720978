//! The boundary between the service and the backends: the [`Catalog`] of records, listings,
//! usage and quotas, and the [`BlobStore`] of their bytes, written in terms of the neutral
//! model (`crate::model`) only.
//!
//! The service holds a `dyn Catalog` and a `dyn BlobStore` and calls nothing below them; a backend implements it
//! (`crate::local` on RocksDB today). What a backend must guarantee is stated on each method
//! and checked for every backend by the conformance suite (`engine::conformance`), so a second
//! backend is held to exactly the same tests.

mod blobs;
mod catalog;
pub mod conformance;

pub use blobs::{
    Access, BlobError, BlobResult, BlobSink, BlobStore, BoxFuture, Hold, Measured, Opened, RangeRead, Staged, Verify,
};
pub use catalog::{Catalog, CatalogError, CatalogResult, Durability, ReserveLimits};
