#!/usr/bin/env bash
# Builds (first run: installs libclang-dev) and starts attachd on its embedded defaults:
# config.toml compiled in, data in ./data, API on 127.0.0.1:7380, metrics on 127.0.0.1:9464.
# Extra arguments go to `attachd serve` (e.g. --config my.toml).
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
exec cargo run --release --bin attachd -- serve "$@"
