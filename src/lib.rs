//! attachd: a storage daemon for file attachments.
//!
//! The map, in the order a request meets the modules:
//!
//! - [`config`]  — embedded defaults (`config.toml`) + file + `ATTACHD_…` environment
//! - [`daemon`]  — composition root: lock, recover, bind, serve, drain
//! - [`http`]    — the HTTP library under every API: accept loops, bodies, ranges, serving
//!                 bytes, bearer extraction, and the router that composes front ends
//! - [`frontend`] — one folder per API, each with its routes, handlers, wire shapes and error
//!                 table: [`frontend::events`] (seed 000), [`frontend::admin`], probes
//! - [`service`] — reserve, upload, list, download, delete, usage, quotas, link, admin
//! - [`engine`]  — the boundary the service holds: the `Catalog` and `BlobStore` traits and the
//!                 catalog's conformance suite
//! - [`model`]   — the neutral attachment record, parents, metadata, digests, listing values
//! - [`local`]   — the local backend: `LocalCatalog` over [`index`], `LocalBlobs` (sinks,
//!                 segment or standalone file) over [`store`], the group committer, the stripes
//! - [`worker`]  — background jobs: reservation sweeper, cleanup, compaction, metrics sampler
//! - [`index`]   — RocksDB column families (records, listing, filters, usage, expiry, deleted,
//!                 segments, event links, control plane), one module each; `transition.rs`
//!                 derives every row and counter change from a record's old and new state
//! - [`store`]   — segment files, standalone blobs, io engines (io_uring, sync), recovery
//! - [`metrics`] — every exported metric, named in one place
//! - [`ids`], [`clock`] — newtypes for ids, digests and time
//! - [`cli`], [`client`] — the command line and its HTTP client
//! - [`loadgen`] — `attachd bench`, the load generator used against attachd and its peers
//! - [`xorshift`] — the seeded generator for payloads, test data and fault schedules
//! - [`stripes`] — striped mutexes (the local backend's record and quota locks, link locks)
//!
//! Layering: `frontend → {http, service}`, `service → engine (Catalog, BlobStore) → local →
//! {index, store}`, all speaking [`model`]; the service names neither `http` nor a front end,
//! `http` names no front end, front ends reach storage only through the service, `index` and
//! `store` never import each other, and nothing below `http` imports hyper (checked by the
//! tests in `layering.rs`). [`daemon`] mounts the front ends on each listener.
//! Still crossing the boundary (next steps): the service reaches the control plane and event
//! links through `index`, and compaction, fsck and backup through `store` and the committer.

pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod frontend;
pub mod http;
pub mod ids;
pub mod index;
mod layering;
pub mod loadgen;
pub mod local;
pub mod metrics;
pub mod model;
pub mod service;
pub mod store;
pub mod stripes;
pub mod worker;
pub mod xorshift;
