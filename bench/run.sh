#!/usr/bin/env bash
# The whole benchmark, one command: installs what it needs (build tools, the loopback S3 +
# REST stack, collectd, the Python venvs), then prints the side-by-side tables:
#   1. stages: sampler, buffer append, encode, sync (embedded and S3 + REST), history
#   2. agents: pcmetrics `run` vs a Python psutil loop vs collectd, same machine, 1 s
#   3. sync: pcmetrics vs pyarrow + pyiceberg (the replaced Python path), and one hour of
#      samples as the original design wrote it (a file and an append per collection)
#   4. the tray app's CPU and memory, window open and closed (when its release build exists)
#
#   bench/run.sh            # full: 120 s per agent, 1 000 000 rows (~35 min)
#   bench/run.sh --quick    # 30 s per agent, 100 000 rows (~20 min; the per-collection hour has a 600 s budget either way)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_packages build-essential ca-certificates curl pkg-config python3 python3-venv
ensure_rust

seconds=120 rows=1000000
if [ "${1:-}" = "--quick" ]; then seconds=30 rows=100000; fi

# A stack of our own on separate ports, so a test run elsewhere is not disturbed.
export PCMETRICS_STACK_S3_PORT=49100 PCMETRICS_STACK_REST_PORT=48281 PCMETRICS_STACK_STATE=/tmp/pcmetrics-stack-bench-run
scripts/test-stack up
trap 'scripts/test-stack down' EXIT
eval "$(scripts/test-stack env)"

echo "## 1. Stages (cargo bench -p pcmetrics-core --bench pipeline)"
cargo bench --locked -p pcmetrics-core --bench pipeline -- --rows "$rows" 2>/dev/null
cargo build --release --locked -p pcmetrics-cli

echo
echo "## 2. Sampler cost, ${seconds} s per agent (bench/agents.py)"
python3 bench/agents.py --seconds "$seconds"

echo
echo "## 3. Sync throughput and the original design's shape (bench/sync.py)"
python3 bench/sync.py --rows "$rows"

echo
echo "## 4. The tray app, window open and closed (bench/app_footprint.py)"
if [ -x target/release/pcmetrics-tray ] && command -v xvfb-run >/dev/null && command -v dbus-run-session >/dev/null; then
    python3 bench/app_footprint.py --seconds "$(( seconds / 2 ))"
else
    echo "skipped: needs target/release/pcmetrics-tray (scripts/quickstart.sh on a desktop builds it) and xvfb-run + dbus-run-session"
fi
