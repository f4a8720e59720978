//! attachd: a storage daemon for file attachments.
//!
//! The map, in the order a request meets the modules:
//!
//! - [`config`]   — embedded defaults (`config.toml`) + file + `ATTACHD_…` environment
//! - [`daemon`]   — composition root: lock, recover, bind, mount the front ends, serve, drain
//! - [`http`]     — the library under every API: accept loops, bodies, ranges, bytes, the router
//! - [`frontend`] — one folder per API (routes, parsers, handlers, JSON, errors): events, admin
//! - [`service`]  — the operations on typed requests, returning domain values and errors
//! - [`engine`]   — the boundary the service holds: `Catalog` and `BlobStore`, their conformance
//! - [`model`]    — the neutral attachment record, parents, metadata, digests, listing values
//! - [`local`]    — the local backend: `LocalCatalog`, `LocalBlobs`, group committer, stripes
//! - [`worker`]   — background jobs: reservation sweeper, cleanup, compaction, metrics sampler
//! - [`index`]    — RocksDB, one module per column family; `transition.rs` derives every row
//! - [`store`]    — segment files, standalone blobs, io engines (io_uring, sync), recovery
//! - [`metrics`]  — every exported metric, named in one place
//! - [`ids`]      — newtypes for ids and digests
//! - [`clock`]    — timestamps and ISO-8601
//! - [`cli`]      — the command line
//! - [`client`]   — the command line's HTTP client
//! - [`loadgen`]  — `attachd bench`, the load generator used against attachd and its peers
//! - [`xorshift`] — the seeded generator for payloads, test data and fault schedules
//! - `layering`   — tests of the layering rules below, run on the sources
//!
//! The seed-000 API ([`frontend::events`]) parses its JSON bodies, query strings and cursors
//! into the service's typed requests after [`service::Service::authorize`] admits the caller,
//! and builds its JSON answers and upload and download URLs from the domain values returned.
//!
//! Layering: `frontend → {http, service}`, `service → engine (Catalog, BlobStore) → local →
//! {index, store}`, all speaking [`model`]; the service names neither `http` nor a front end,
//! `http` names no front end, front ends reach storage only through the service, `index` and
//! `store` never import each other, and nothing below `http` imports hyper (checked by the
//! tests in `layering.rs`, which also check that the service names no URL path or JSON body).
//! [`daemon`] mounts the front ends on each listener.
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
pub mod worker;
pub mod xorshift;
