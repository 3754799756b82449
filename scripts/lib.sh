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

# What the tray app (src-tauri/) needs to build and run: WebKitGTK, the tray library,
# and Mesa (WebKit aborts without an EGL display: "Could not create surfaceless EGL display").
APP_PACKAGES=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
              libssl-dev pkg-config build-essential libgl1-mesa-dri)
# And to run it headless in tests: a virtual X server, a session bus, the WebDriver.
HEADLESS_PACKAGES=(xvfb xauth dbus dbus-x11 webkit2gtk-driver libglib2.0-bin imagemagick)
# The keyring tests (crates/pcmetrics-cli/tests/keyring.rs): a private session bus, GNOME
# Keyring's Secret Service on it, and libsecret's secret-tool to read entries back.
KEYRING_PACKAGES=(dbus-daemon dbus-bin gnome-keyring libsecret-tools)

# Node.js for the UI build (Vite 8 needs 20.19 or newer).
ensure_node() {
    if ! command -v node >/dev/null 2>&1; then
        ensure_packages nodejs npm
    fi
    if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)'; then
        echo "error: Node.js $(node --version) is too old for the UI build; install Node 20.19+ (https://nodejs.org) and run this again" >&2
        return 1
    fi
}

# Installs the UI's npm packages (from the lockfile) and builds ui/dist, which the tray
# app embeds at compile time.
build_ui() {
    ensure_node
    echo "==> UI: npm ci && npm run build"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}
