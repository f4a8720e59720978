//! attachd: a storage daemon for file attachments.
//!
//! The map, in the order a request meets the modules:
//!
//! - [`config`]  — embedded defaults (`config.toml`) + file + `ATTACHD_…` environment
//! - [`daemon`]  — composition root: lock, recover, bind, serve, drain
//! - [`http`]    — hyper server, pure router, handlers, the one error→status table
//! - [`service`] — reserve, upload, list, download, delete, usage, quotas, link, admin
//! - [`worker`]  — background jobs: reservation sweeper, cleanup, compaction, metrics sampler
//! - [`index`]   — RocksDB column families (records, listing, filters, usage, expiry, deleted,
//!                 segments, event links, control plane), one module each
//! - [`store`]   — segment files, standalone blobs, io engines (io_uring, sync), recovery
//! - [`metrics`] — every exported metric, named in one place
//! - [`ids`], [`clock`] — newtypes for ids, digests and time
//! - [`cli`], [`client`] — the command line and its HTTP client
//! - [`loadgen`] — `attachd bench`, the load generator used against attachd and its peers
//!
//! Layering: `http → service → {index, store}`; `index` and `store` never import each other;
//! nothing below `http` imports hyper.

pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod http;
pub mod ids;
pub mod index;
pub mod loadgen;
pub mod local;
pub mod metrics;
pub mod model;
pub mod service;
pub mod store;
pub mod worker;
pub mod xorshift;
