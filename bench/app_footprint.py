#!/usr/bin/env python3
"""CPU and memory of the tray app, window open and window closed, sampling every second.

    bench/app_footprint.py [--seconds 60] [--warmup 15]

Runs target/release/pcmetrics-tray under Xvfb with a session bus (as the end-to-end test
does) on a fresh data dir, twice: with the dashboard open (the default launch) and
closed (`--minimized`, the state after login or after closing the window: closing
destroys the web view). For the app and its WebKit helper processes it reports CPU (ticks
from /proc/<pid>/stat over the window) and memory: RSS summed over the processes, and
PSS (shared pages split between processes, so libraries are not counted twice).
Needs xvfb-run and dbus-run-session (scripts/lib.sh: HEADLESS_PACKAGES) and the release
build (`cargo build --release -p pcmetrics-tray`, after `cd ui && npm run build`).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agents import CLK_TCK, REPO, descendants, die_with_parent, log, own_ticks  # noqa: E402

APP = REPO / "target" / "release" / "pcmetrics-tray"


def app_pid(root, data_dir):
    """The pcmetrics-tray process under `root` that samples `data_dir`."""
    for pid in descendants(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"pcmetrics-tray") and str(data_dir).encode() in cmd:
            return pid
    return None


def memory_kib(pid):
    """(RSS, PSS, anonymous) in KiB: anonymous is the process's own heap and stacks, the
    rest of RSS is mapped files (libraries: WebKit, GTK, Mesa's software renderer)."""
    rss = pss = anon = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith("Anonymous:"):
                anon = int(line.split()[1])
    except OSError:
        pass
    return rss, pss, anon


def tree(pid):
    return [pid, *descendants(pid)]


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def measure(minimized, seconds, warmup):
    data = Path(tempfile.mkdtemp(prefix="bench-app-"))
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--",
           str(APP), "--data-dir", str(data), "--config", str(data / "config.toml")]
    if minimized:
        cmd.append("--minimized")
    env = dict(os.environ, PCMETRICS_LOG="warn")
    log("$ " + " ".join(cmd))
    root = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=die_with_parent, start_new_session=True)
    try:
        pid = None
        for _ in range(100):
            pid = app_pid(root.pid, data)
            if pid:
                break
            time.sleep(0.1)
        if not pid:
            sys.exit("bench: the app did not start")
        time.sleep(warmup)
        procs = tree(pid)
        ticks0 = sum(own_ticks(p) for p in procs if Path(f"/proc/{p}").exists())
        t0 = time.monotonic()
        rss_samples, pss_samples, anon_samples = [], [], []
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            mem = [memory_kib(p) for p in tree(pid)]
            rss_samples.append(sum(m[0] for m in mem))
            pss_samples.append(sum(m[1] for m in mem))
            anon_samples.append(sum(m[2] for m in mem))
        procs = tree(pid)
        ticks1 = sum(own_ticks(p) for p in procs if Path(f"/proc/{p}").exists())
        elapsed = time.monotonic() - t0
        names = sorted({comm(p) for p in procs})
        cpu_s = (ticks1 - ticks0) / CLK_TCK
        return {
            "window": "closed (--minimized)" if minimized else "open",
            "processes": ", ".join(names),
            "cpu_pct": 100 * cpu_s / elapsed,
            "cpu_s_per_min": 60 * cpu_s / elapsed,
            "rss_mb": sum(rss_samples) / len(rss_samples) / 1024,
            "pss_mb": sum(pss_samples) / len(pss_samples) / 1024,
            "anon_mb": sum(anon_samples) / len(anon_samples) / 1024,
            "app_rss_mb": memory_kib(pid)[0] / 1024,
        }
    finally:
        os.killpg(root.pid, signal.SIGTERM)
        try:
            root.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(root.pid, signal.SIGKILL)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=15)
    args = ap.parse_args()
    if not APP.exists():
        sys.exit(f"bench: {APP} is missing; build it: (cd ui && npm ci && npm run build) && "
                 "cargo build --release -p pcmetrics-tray")
    rows = [measure(False, args.seconds, args.warmup), measure(True, args.seconds, args.warmup)]
    print(f"\ntray app, sampling every 1 s, {args.seconds} s after {args.warmup} s warm-up "
          "(Xvfb, software rendering)\n")
    print("| window | % of a core | CPU s/min | RSS (sum) | PSS (sum) | anonymous (sum) | app process RSS | processes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['window']} | {r['cpu_pct']:.2f} | {r['cpu_s_per_min']:.2f} | "
              f"{r['rss_mb']:.1f} MB | {r['pss_mb']:.1f} MB | {r['anon_mb']:.1f} MB | "
              f"{r['app_rss_mb']:.1f} MB | "
              f"{r['processes']} |")


if __name__ == "__main__":
    main()
