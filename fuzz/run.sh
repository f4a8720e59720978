#!/usr/bin/env bash
# Runs cargo-fuzz targets on stable Rust (RUSTC_BOOTSTRAP=1 unlocks the sanitizer flags) and
# links the RocksDB archive the main release build already made, so no C++ is recompiled.
#   fuzz/run.sh                      every target, 60 s each
#   fuzz/run.sh store_model 600      one target, 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# An archive named by ROCKSDB_LIB_DIR (e.g. a worktree building against another checkout's) wins.
lib=${ROCKSDB_LIB_DIR:-}
[ -n "$lib" ] && [ -f "$lib/librocksdb.a" ] || lib=$(ls -d "$CARGO_TARGET_DIR"/release/build/librocksdb-sys-*/out 2>/dev/null | while read -r d; do [ -f "$d/librocksdb.a" ] && echo "$d"; done | head -1)
if [ -z "$lib" ]; then
    echo "==> building the release profile once for its RocksDB archive" >&2
    cargo build --release
    lib=$(ls -d "$CARGO_TARGET_DIR"/release/build/librocksdb-sys-*/out | while read -r d; do [ -f "$d/librocksdb.a" ] && echo "$d"; done | head -1)
fi
export ROCKSDB_LIB_DIR="$lib" ROCKSDB_STATIC=1 RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR-fuzz"
targets=("${1:-}")
[ -n "${1:-}" ] || targets=(record_decode segment_tail download_token range_header reserve_json list_cursor store_model index_record multipart_form upload_names upload_token)
secs="${2:-60}"
cd fuzz
for t in "${targets[@]}"; do
    echo "==> fuzzing $t for ${secs}s" >&2
    cargo fuzz run "$t" -- -max_total_time="$secs" -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|panicked|SUMMARY|Done" || true
done
