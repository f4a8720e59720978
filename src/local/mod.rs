//! The local backend: everything that exists only because the data lives on one machine —
//! the RocksDB index and the segment and standalone files (`crate::index`, `crate::store`), the
//! in-process stripes that make quota checks and record changes atomic, and the [`Catalog`]
//! implementation over them.
//!
//! [`Catalog`]: crate::engine::Catalog

mod catalog;
pub mod stripes;

pub use catalog::LocalCatalog;
pub use stripes::Stripes;
