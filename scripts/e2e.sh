#!/usr/bin/env bash
# End-to-end test of the tray app: installs what it needs (system packages, Node,
# tauri-driver into a cache), builds the UI, the app and the CLI, then runs e2e/run.mjs
# under a virtual X server and a private session bus. The test drives the real window
# (tauri-driver + WebKitWebDriver) and the tray menu (D-Bus) on a fresh data dir; it
# fails (non-zero) on the first failed check and leaves screenshots, the app log and a
# summary in e2e/artifacts/.
#
#   scripts/e2e.sh               # everything
#   E2E_SKIP_BUILD=1 scripts/e2e.sh   # reuse the built UI and binaries
#   E2E_APP=path/to/pcmetrics-tray scripts/e2e.sh   # test another build of the app
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_packages build-essential ca-certificates
ensure_packages "${APP_PACKAGES[@]}" "${HEADLESS_PACKAGES[@]}"
ensure_rust
ensure_node

# tauri-driver (the WebDriver bridge for Tauri apps), cached across runs.
tools="${PCMETRICS_TOOLS:-$HOME/.cache/pcmetrics-tools}"
driver="$tools/tauri-driver-2/bin/tauri-driver"
if [ ! -x "$driver" ]; then
    echo "==> installing tauri-driver 2 into $tools/tauri-driver-2"
    cargo install --root "$tools/tauri-driver-2" tauri-driver --version '^2' --locked
fi

target="${CARGO_TARGET_DIR:-$PWD/target}/debug"
if [ "${E2E_SKIP_BUILD:-0}" != 1 ]; then
    build_ui
    echo "==> building the tray app and the CLI (debug)"
    cargo build --locked -p pcmetrics-tray -p pcmetrics-cli
fi

# Everything the test starts carries this variable (it is inherited by Xvfb, the session
# bus and its helpers, tauri-driver, WebKitWebDriver and the app), so whatever is still
# running afterwards, even after a crash or a timeout, can be found and stopped.
run_id="pcmetrics-e2e-$$-$(date +%s)"
cleanup() {
    local pid left=()
    for env in /proc/[0-9]*/environ; do
        pid="${env#/proc/}"; pid="${pid%/environ}"
        [ "$pid" = "$$" ] && continue
        if { tr '\0' '\n' <"$env"; } 2>/dev/null | grep -qx "E2E_RUN_ID=$run_id"; then
            left+=("$pid $(cat "/proc/$pid/comm" 2>/dev/null)")
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    if [ ${#left[@]} -gt 0 ]; then
        echo "e2e: stopped leftover processes: $(IFS=,; echo "${left[*]}")" >&2
    fi
}
trap cleanup EXIT

echo "==> end-to-end test (Xvfb + dbus-run-session + tauri-driver)"
start=$(date +%s)
status=0
E2E_RUN_ID="$run_id" E2E_APP="${E2E_APP:-$target/pcmetrics-tray}" E2E_CLI="${E2E_CLI:-$target/pcmetrics}" \
    TAURI_DRIVER="$driver" \
    timeout --kill-after=10 300 \
    xvfb-run -a -s "-screen 0 1280x800x24" \
    dbus-run-session -- node e2e/run.mjs || status=$?
echo "==> e2e finished in $(( $(date +%s) - start )) s with status $status; artifacts in e2e/artifacts/"
if [ "$status" = 124 ] || [ "$status" = 137 ]; then
    echo "error: the end-to-end test did not finish within 300 s" >&2
fi
exit "$status"
