#!/usr/bin/env bash
# Quick start: builds pcmetrics and runs it on the embedded default (no services, no
# config): samples this PC every second into <data dir>/buffer.db and syncs every 5
# minutes into the Iceberg table bronze.pc_metrics under <data dir>/lakehouse/.
#
#   scripts/quickstart.sh              # until Ctrl-C
#   scripts/quickstart.sh --for 2m     # any `pcmetrics run` arguments
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential ca-certificates
ensure_rust
echo "==> building pcmetrics (release)"
cargo build --release --locked -p pcmetrics-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/pcmetrics"
"$bin" config check
echo "==> running; see it with: $bin status   |   $bin history --metric cpu"
exec "$bin" run "$@"
