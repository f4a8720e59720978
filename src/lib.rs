//! attachd: a storage daemon for file attachments.
//!
//! The map, in the order a request meets the modules:
//!
//! - [`config`]   — embedded defaults (`config.toml`) + file + `ATTACHD_…` environment
//! - [`daemon`]   — composition root: lock, recover, bind, mount the front ends, serve, drain
//! - [`http`]     — the library under every API: accept loops, bodies, ranges, bytes, the router,
//!   and the one outgoing call (webhook deliveries)
//! - [`frontend`] — one folder per API (routes, parsers, handlers, JSON, errors): events, admin
//! - [`service`]  — the operations on typed requests, returning domain values and errors
//! - [`engine`]   — the boundary: `Catalog` (+ control plane), `BlobStore`, `Housekeeping`, suite
//! - [`model`]    — the neutral values: attachment record, parents, metadata, control plane
//! - [`local`]    — the local backend: catalog, blobs, committer, compaction, fsck, backup
//! - [`postgres_s3`] — the replicated backend: catalog on PostgreSQL, blobs on an S3 store
//! - [`worker`]   — background jobs: reservation sweeper, cleanup, metrics sampler, scans, webhooks
//! - [`index`]    — RocksDB, one module per column family; `transition.rs` derives every row
//! - [`store`]    — segment files, standalone blobs, io engines (io_uring, sync), recovery
//! - [`scanner`]  — content scanning: the clamd client and its strict reading of verdicts
//! - [`metrics`]  — every exported metric, named in one place
//! - [`ids`]      — newtypes for ids and digests
//! - [`clock`]    — timestamps and ISO-8601
//! - [`cli`]      — the command line
//! - [`client`]   — the command line's HTTP client
//! - [`loadgen`]  — `attachd bench`, the load generator used against attachd and its peers
//! - [`xorshift`] — the seeded generator for payloads, test data and fault schedules
//! - [`stripes`]  — striped mutexes (the local backend's record and quota locks, link locks)
//! - `layering`   — tests of the layering rules below, run on the sources
//!
//! The seed-000 API ([`frontend::events`]) parses its JSON bodies, query strings and cursors
//! into the service's typed requests after [`service::Service::authorize`] admits the caller,
//! and builds its JSON answers and upload and download URLs from the domain values returned.
//!
//! Layering: `frontend → {http, service}`, `service → engine → {local → {index, store}, postgres_s3}`, all
//! speaking [`model`]; the service holds the engine's traits only and names no backend, `http`
//! names no front end, front ends reach storage only through the service, no backend names the
//! service or a front end, `index` and `store` never import each other, and nothing below
//! `http` imports hyper (checked by the tests in `layering.rs`, which also check that the
//! service names no URL path or JSON body). [`daemon`] opens the backend and mounts the front
//! ends on each listener.

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
pub mod postgres_s3;
pub mod scanner;
pub mod service;
pub mod store;
pub mod stripes;
pub mod worker;
pub mod xorshift;
