# Shared helpers for the project's scripts. Source it; do not run it.

# Installs Debian packages that are missing (apt-get update once, retried: a mirror can
# fail half-way and pass on a plain retry).
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "==> installing Debian packages: ${missing[*]}"
    for attempt in 1 2 3; do
        if $sudo apt-get update -qq && \
           DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
            return 0
        fi
        echo "apt-get failed (attempt $attempt), retrying in 5s" >&2
        sleep 5
    done
    echo "error: could not install ${missing[*]}" >&2
    return 1
}

# Rust is installed with rustup (https://rustup.rs); Debian's cargo is too old.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "error: cargo not found; install Rust 1.95 or newer with rustup (https://rustup.rs) and run this again" >&2
        return 1
    fi
}

# A Python venv with pyiceberg, the independent Iceberg reader used to verify tables.
ensure_pyiceberg() {
    local venv="$1"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import pyiceberg, pyarrow" 2>/dev/null; then
        return 0
    fi
    python3 -m venv --help >/dev/null 2>&1 || ensure_packages python3-venv
    echo "==> installing pyiceberg into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "pyiceberg[pyarrow,sql-sqlite]==0.12.*"
}
