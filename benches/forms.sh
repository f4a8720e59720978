#!/usr/bin/env bash
# One file per request through a multipart form (seed 001's product route) next to the event
# API's reserve + PUT (seed 000), on one daemon, driven by `attachd bench` in interleaved rounds
# (A B A B …) so machine noise hits both alike. Prints each run and the form/PUT ratios;
# raw JSON lines go to $WORK/results.jsonl.
#   benches/forms.sh            2 rounds, 1 KiB and 10 MiB
#   QUICK=1 benches/forms.sh    1 round, shorter runs
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_build_deps
cargo build --release --bin attachd >&2
BIN="$CARGO_TARGET_DIR/release/attachd"
WORK="${ATTACHD_FORMS_DIR:-$HOME/.cache/attachd/forms}"
ROUNDS=2; SMALL_SECS=8; LARGE_SECS=12
[ -n "${QUICK:-}" ] && { ROUNDS=1; SMALL_SECS=4; LARGE_SECS=6; }

rm -rf "$WORK"; mkdir -p "$WORK/data"
RESULTS="$WORK/results.jsonl"; : > "$RESULTS"
cat > "$WORK/attachd.toml" <<TOML
[server]
listen = "127.0.0.1:7580"
admin_api = "ops"
[metrics]
listen = "127.0.0.1:9580"
[storage]
data_dir = "$WORK/data"
[quota]
project_bytes = 1099511627776
user_bytes = 1099511627776
[uploads]
max_pending_bytes_per_project = 1099511627776
max_pending_per_project = 10000000
[cleanup]
schedule = "off"
[log]
level = "warn"
TOML
"$BIN" serve --config "$WORK/attachd.toml" > "$WORK/attachd.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -fsS -o /dev/null http://127.0.0.1:7580/ready 2>/dev/null && break; sleep 0.1; done

# A person, a space and a product to upload to, and the person's key.
ADMIN=("$BIN" admin --config "$WORK/attachd.toml")
B="$WORK/data/bootstrap.json"
PROJECT=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['project_id'])" "$B")
TEAM=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['team_id'])" "$B")
"${ADMIN[@]}" put-user --id bench --name Bench --email bench@example.com >/dev/null
"${ADMIN[@]}" set-member --team "$TEAM" --user bench --role member >/dev/null
"${ADMIN[@]}" set-alias --project "$PROJECT" --kind space_slug --value bench >/dev/null
"${ADMIN[@]}" put-parent --project "$PROJECT" --kind product --id bench >/dev/null
KEY=$("${ADMIN[@]}" create-key --kind user --user bench --project "$PROJECT" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['secret'])")

run() { # label target size concurrency seconds
    "$BIN" bench "$2" --url http://127.0.0.1:7580 --bootstrap "$B" --user-key "$KEY" \
        --size "$3" --concurrency "$4" --duration "$5" --label "$1" --json | tee -a "$RESULTS"
}
for round in $(seq "$ROUNDS"); do
    echo "== round $round" >&2
    run put-1k attachd 1024 64 "$SMALL_SECS"
    run form-1k attachd-form 1024 64 "$SMALL_SECS"
    run put-10m attachd 10485760 8 "$LARGE_SECS"
    run form-10m attachd-form 10485760 8 "$LARGE_SECS"
done
python3 - "$RESULTS" <<'PY'
import json, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["label"]].append(r)
def med(label, key):
    xs = sorted(r[key] for r in runs[label])
    return xs[len(xs) // 2]
for size in ["1k", "10m"]:
    put, form = f"put-{size}", f"form-{size}"
    print(f"{size:>4}: reserve+PUT {med(put, 'ops_per_sec'):9.1f} ops/s p99 {med(put, 'p99_ms'):7.2f} ms | "
          f"form {med(form, 'ops_per_sec'):9.1f} ops/s p99 {med(form, 'p99_ms'):7.2f} ms | "
          f"form/PUT ops ratio {med(form, 'ops_per_sec') / med(put, 'ops_per_sec'):.2f}")
PY
