#!/usr/bin/env bash
# The test suite: installs what it needs (build tools, pyiceberg, and the loopback S3
# server + Iceberg REST catalog of scripts/test-stack), starts the stack, runs every test
# against both backends, then checks with an independent Iceberg reader (pyiceberg) that
# `pcmetrics simulate --samples 100000` + `pcmetrics sync` leave exactly those 100 000
# rows, value for value, in the table. A missing server is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
# systemd: systemd-analyze, which verifies the service unit (crates/pcmetrics-cli/tests/service.rs).
ensure_packages build-essential ca-certificates curl pkg-config python3 python3-venv strace faketime openssl systemd
ensure_packages "${APP_PACKAGES[@]}" "${HEADLESS_PACKAGES[@]}" "${KEYRING_PACKAGES[@]}"
ensure_rust
build_ui
echo "==> UI unit tests (vitest)"
(cd ui && npm test --silent)
venv="$PWD/.cache/pyiceberg-venv"
ensure_pyiceberg "$venv"

echo "==> test stack (S3 + Iceberg REST on 127.0.0.1)"
scripts/test-stack up
trap 'scripts/test-stack down' EXIT
eval "$(scripts/test-stack env)"
unset PCMETRICS_TEST_SKIP_STACK PCMETRICS_TEST_SKIP_KEYRING

echo "==> cargo test (embedded default and S3 + REST)"
cargo test --workspace --locked

echo "==> independent reader: 100 000 samples through the CLI, read back by pyiceberg"
cargo build --locked -p pcmetrics-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/pcmetrics"
data="$(mktemp -d)"
trap 'rm -rf "$data"; scripts/test-stack down' EXIT
"$bin" --data-dir "$data" simulate --samples 100000
"$bin" --data-dir "$data" sync
metadata="$("$bin" --data-dir "$data" status --json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["metadata_location"])')"
"$venv/bin/python" scripts/verify_table.py --data-dir "$data" --metadata "$metadata" --expect 100000

echo "==> independent reader on S3 + REST: 20 000 samples, read back by pyiceberg from S3"
s3data="$(mktemp -d)"
trap 'rm -rf "$data" "$s3data"; scripts/test-stack down' EXIT
scripts/test-stack config >"$s3data/stack.toml"
export AWS_ACCESS_KEY_ID="$PCMETRICS_TEST_S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$PCMETRICS_TEST_S3_SECRET"
"$bin" --data-dir "$s3data" --config "$s3data/stack.toml" simulate --samples 20000
"$bin" --data-dir "$s3data" --config "$s3data/stack.toml" sync
metadata="$("$bin" --data-dir "$s3data" --config "$s3data/stack.toml" status --json | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["metadata_location"])')"
"$venv/bin/python" scripts/verify_table.py --data-dir "$s3data" --metadata "$metadata" --expect 20000
echo "independent-reader: 2 passed, 0 failed"

echo "==> table lifecycle: 7 simulated days of 2 PCs syncing every 5 min + maintenance"
# Fails when metadata, manifests or files grow with the number of syncs, when anything
# unreferenced is left, or when a row is missing or doubled; then pyiceberg compares
# every row with each PC's buffer.
life="$(mktemp -d)"
trap 'rm -rf "$data" "$s3data" "$life"; scripts/test-stack down' EXIT
cargo run --locked -q -p pcmetrics-core --example lifecycle -- \
    --days 7 --pcs 2 --checkpoint 1 --check --dir "$life" --pyiceberg "$venv/bin/python" | tee "$life/out.txt"
metadata="$(sed -n 's/^metadata location: //p' "$life/out.txt")"
for pc in "$life"/pc0 "$life"/pc1; do
    "$venv/bin/python" scripts/verify_table.py --data-dir "$pc" --metadata "$metadata"
done

echo "==> tray app end to end: a real window under Xvfb (tauri-driver + WebKitWebDriver)"
scripts/e2e.sh
