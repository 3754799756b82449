#!/usr/bin/env bash
# Quick start: builds pcmetrics and runs it on the embedded default (no services, no
# config): samples this PC every second into <data dir>/buffer.db and syncs every 5
# minutes into the Iceberg table bronze.pc_metrics under <data dir>/lakehouse/.
#
# On a desktop (DISPLAY or WAYLAND_DISPLAY set) it starts the tray app with its dashboard;
# elsewhere, or with --headless, the headless agent `pcmetrics run`.
#
#   scripts/quickstart.sh                       # tray app (desktop) / agent (no display)
#   scripts/quickstart.sh --headless --for 2m   # the agent; any `pcmetrics run` arguments
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
headless=0
if [ "${1:-}" = "--headless" ]; then headless=1; shift; fi
if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then headless=1; fi
ensure_packages build-essential ca-certificates
ensure_rust
target="${CARGO_TARGET_DIR:-$PWD/target}/release"

if [ "$headless" = 0 ]; then
    ensure_packages "${APP_PACKAGES[@]}"
    build_ui
    echo "==> building the pcmetrics tray app (release; the first build takes several minutes)"
    cargo build --release --locked -p pcmetrics-tray -p pcmetrics-cli
    echo "==> starting; the dashboard opens now, the icon stays in the tray (Quit is in its menu)"
    exec "$target/pcmetrics-tray" "$@"
fi

echo "==> building pcmetrics (release)"
cargo build --release --locked -p pcmetrics-cli
"$target/pcmetrics" config check
echo "==> running; see it with: $target/pcmetrics status   |   $target/pcmetrics history --metric cpu"
exec "$target/pcmetrics" run "$@"
