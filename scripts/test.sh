#!/usr/bin/env bash
# The test suite: installs what it needs, runs every test, then checks with an independent
# Iceberg reader (pyiceberg) that `pcmetrics simulate --samples 100000` + `pcmetrics sync`
# leave exactly those 100 000 rows, value for value, in the table.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential ca-certificates python3 python3-venv
ensure_rust
venv="$PWD/.cache/pyiceberg-venv"
ensure_pyiceberg "$venv"

echo "==> cargo test"
cargo test --workspace --locked

echo "==> independent reader: 100 000 samples through the CLI, read back by pyiceberg"
cargo build --locked -p pcmetrics-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/pcmetrics"
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
"$bin" --data-dir "$data" simulate --samples 100000
"$bin" --data-dir "$data" sync
metadata="$("$bin" --data-dir "$data" status --json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["metadata_location"])')"
"$venv/bin/python" scripts/verify_table.py --data-dir "$data" --metadata "$metadata" --expect 100000
echo "independent-reader: 1 passed, 0 failed"
