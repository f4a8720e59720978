#!/usr/bin/env bash
# The two backends side by side, on loopback, driven by `attachd bench` (same client, same
# machine, one run): 1 KiB uploads, 64 MiB uploads and 1 KiB downloads on
#   local            — one daemon, RocksDB + segment/blob files
#   postgres_s3 ×1   — one replica on a private PostgreSQL 15 cluster and SeaweedFS's S3 gateway
#   postgres_s3 ×2   — two replicas on the same database and bucket, each driven by its own
#                      client with half the concurrency (ops/s summed)
# Prints one line per run; raw JSON lines go to $WORK/results.jsonl.
#   benches/backends.sh            (~4 minutes)
#   SECS=4 benches/backends.sh     shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
ensure_packages postgresql-15
ensure_weed
cargo build --release --bin attachd >&2
BIN="$CARGO_TARGET_DIR/release/attachd"
# Outside $HOME: the postgres user must reach the cluster directory.
WORK="${ATTACHD_BACKENDS_DIR:-/var/tmp/attachd-backends}"
SECS="${SECS:-8}"
C_SMALL=64; C_LARGE=8
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK"/{pg,weed}
chown postgres "$WORK/pg"
RESULTS="$WORK/results.jsonl"; : > "$RESULTS"
wait_http() { for _ in $(seq 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; return 1; }

# PostgreSQL: private cluster, fsync on (the durability the numbers claim).
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg/data" -A trust -U attachd >/dev/null
runuser -u postgres -- "$PGBIN/postgres" -D "$WORK/pg/data" -p 55432 -k "$WORK/pg" -c listen_addresses=127.0.0.1 \
    -c max_connections=200 -c shared_buffers=512MB > "$WORK/pg/log" 2>&1 & pids+=($!)
for _ in $(seq 100); do psql -h 127.0.0.1 -p 55432 -U attachd -d postgres -c "select 1" >/dev/null 2>&1 && break; sleep 0.2; done
psql -h 127.0.0.1 -p 55432 -U attachd -d postgres -qc "CREATE DATABASE bench" >/dev/null
# SeaweedFS S3 gateway.
AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=benchsecret weed mini -dir="$WORK/weed" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -admin.ui=false -master.port=19433 -volume.port=18180 -filer.port=18988 -webdav.port=17433 -s3.port=18433 \
    -bucket=attachd > "$WORK/weed.log" 2>&1 & pids+=($!)
for _ in $(seq 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18433/attachd)" = 403 ] && break; sleep 0.2; done

config() { # name port kind
    local dir="$WORK/$1"; mkdir -p "$dir"
    cat > "$WORK/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
admin_api = "off"
[storage]
data_dir = "$dir"
[quota]
project_bytes = 1099511627776
user_bytes = 1099511627776
[uploads]
max_pending_bytes_per_project = 1099511627776
max_pending_per_project = 10000000
[metrics]
listen = ""
[cleanup]
schedule = "off"
[log]
level = "warn"
[auth]
jwt_secret = "bench-jwt"
download_signing_secret = "bench-download"
TOML
    if [ "$3" = postgres_s3 ]; then cat >> "$WORK/$1.toml" <<TOML
[backend]
kind = "postgres_s3"
postgres_url = "postgres://attachd@127.0.0.1:55432/bench"
postgres_pool_size = 32
s3_endpoint = "http://127.0.0.1:18433"
s3_bucket = "attachd"
s3_access_key_id = "bench"
s3_secret_access_key = "benchsecret"
s3_prefix = "bench/"
TOML
    fi
}
start() { # name port
    "$BIN" serve --config "$WORK/$1.toml" > "$WORK/$1.log" 2>&1 & pids+=($!)
    wait_http "http://127.0.0.1:$2/ready"
}
run() { # label target size concurrency url bootstrap
    "$BIN" bench "$2" --url "$5" --bootstrap "$6" --size "$3" --concurrency "$4" --duration "$SECS" --label "$1" --json | tee -a "$RESULTS"
}
pair() { # label target size concurrency: both replicas at once, half the clients each
    local half=$(( $4 / 2 ))
    run "$1-a" "$2" "$3" "$half" http://127.0.0.1:7581 "$WORK/pg1/bootstrap.json" > "$WORK/a.json" &
    local a=$!
    run "$1-b" "$2" "$3" "$half" http://127.0.0.1:7582 "$WORK/pg1/bootstrap.json" > "$WORK/b.json"
    wait "$a"
    python3 - "$1" "$WORK/a.json" "$WORK/b.json" <<'PY'
import json, sys
a, b = (json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[2:])
print(json.dumps({"label": sys.argv[1], "ops_per_sec": a["ops_per_sec"] + b["ops_per_sec"],
                  "mb_per_sec": a["mb_per_sec"] + b["mb_per_sec"], "p99_ms": max(a["p99_ms"], b["p99_ms"]),
                  "errors": a["errors"] + b["errors"]}))
PY
}

config local 7580 local; start local 7580
config pg1 7581 postgres_s3; start pg1 7581
config pg2 7582 postgres_s3; start pg2 7582
L="http://127.0.0.1:7580"; P1="http://127.0.0.1:7581"
# reserve-1k: the catalog's share of an upload (one reserve transaction, no bytes).
SPECS="${SPECS:-upload-1k,upload-64m,download-1k,reserve-1k}"
declare -A SPEC=(
    [upload-1k]="attachd 1024 $C_SMALL"
    [upload-64m]="attachd 67108864 $C_LARGE"
    [download-1k]="attachd-download 1024 $C_SMALL"
    [reserve-1k]="attachd-reserve 1024 $C_SMALL"
)
for name in ${SPECS//,/ }; do
    spec="$name ${SPEC[$name]}"
    set -- $spec
    run "local-$1" "$2" "$3" "$4" "$L" "$WORK/local/bootstrap.json"
    run "pg_s3x1-$1" "$2" "$3" "$4" "$P1" "$WORK/pg1/bootstrap.json"
    pair "pg_s3x2-$1" "$2" "$3" "$4" | tee -a "$RESULTS"
done
