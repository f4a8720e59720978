//! The boundary between the service and the backends: the [`Catalog`] of records, listings,
//! usage and quotas, written in terms of the neutral model (`crate::model`) only.
//!
//! The service holds a `dyn Catalog` and calls nothing below it; a backend implements it
//! (`crate::local` on RocksDB today). What a backend must guarantee is stated on each method
//! and checked for every backend by the conformance suite (`engine::conformance`), so a second
//! backend is held to exactly the same tests.

mod catalog;
pub mod conformance;

pub use catalog::{Catalog, CatalogError, CatalogResult, Durability, ReserveLimits};
