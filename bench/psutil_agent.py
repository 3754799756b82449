#!/usr/bin/env python3
"""A psutil sampler that collects what `pcmetrics run` collects, every interval, and
appends each sample as one JSON line to a file.

It exists only as a baseline for bench/agents.py: the "obvious" way to write the same
agent in Python. Stops on SIGTERM / SIGINT or after --for seconds.

    psutil_agent.py --out samples.jsonl [--interval 1] [--for 600] [--fsync]
"""

import argparse
import json
import os
import signal
import time

import psutil


def rates(prev, now, elapsed):
    """Bytes/s per key between two readings of cumulative (a, b) counters. A first
    reading or a counter that went backwards gives 0, as pcmetrics does."""
    out = {}
    for key, (a, b) in now.items():
        p = prev.get(key)
        if p is None or elapsed <= 0:
            out[key] = (0.0, 0.0)
        else:
            out[key] = (max(a - p[0], 0) / elapsed, max(b - p[1], 0) / elapsed)
    return out


class Sampler:
    def __init__(self):
        self.last_at = time.monotonic()
        self.last_disk = self._disk_counters()
        self.last_disk_total = self._disk_total()
        self.last_net = self._net_counters()
        # cpu_percent compares with the previous call: prime both views so the first
        # sample is not the meaningless 0.0.
        psutil.cpu_percent()
        psutil.cpu_percent(percpu=True)

    @staticmethod
    def _disk_counters():
        per = psutil.disk_io_counters(perdisk=True) or {}
        return {d: (c.read_bytes, c.write_bytes) for d, c in per.items()}

    @staticmethod
    def _disk_total():
        # perdisk=False sums whole disks only, so a partition's I/O is not counted twice.
        c = psutil.disk_io_counters(perdisk=False)
        return {"all": (c.read_bytes, c.write_bytes) if c else (0, 0)}

    @staticmethod
    def _net_counters():
        per = psutil.net_io_counters(pernic=True) or {}
        return {n: (c.bytes_recv, c.bytes_sent) for n, c in per.items()}

    def sample(self):
        now = time.monotonic()
        elapsed = now - self.last_at
        self.last_at = now

        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        load = psutil.getloadavg()

        disks = []
        for part in psutil.disk_partitions(all=False):
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue
            disks.append({
                "mount": part.mountpoint, "device": part.device, "fs": part.fstype,
                "total_bytes": usage.total, "available_bytes": usage.free,
            })

        disk_now = self._disk_counters()
        disk_rates = rates(self.last_disk, disk_now, elapsed)
        self.last_disk = disk_now
        total_now = self._disk_total()
        disk_read, disk_write = rates(self.last_disk_total, total_now, elapsed)["all"]
        self.last_disk_total = total_now

        net_now = self._net_counters()
        net_rates = rates(self.last_net, net_now, elapsed)
        self.last_net = net_now
        networks = [
            {"name": n, "rx_bps": r[0], "tx_bps": r[1],
             "rx_bytes_total": net_now[n][0], "tx_bytes_total": net_now[n][1]}
            for n, r in sorted(net_rates.items())
        ]

        temperatures = []
        if hasattr(psutil, "sensors_temperatures"):
            for chip, entries in psutil.sensors_temperatures().items():
                for e in entries:
                    temperatures.append({"label": e.label or chip, "celsius": e.current})

        boot = psutil.boot_time()
        return {
            "ts": time.time(),
            "cpu_total_pct": psutil.cpu_percent(),
            "cpu_core_pct": psutil.cpu_percent(percpu=True),
            "load_1": load[0], "load_5": load[1], "load_15": load[2],
            "mem_total_bytes": vm.total, "mem_used_bytes": vm.used,
            "mem_available_bytes": vm.available,
            "swap_total_bytes": sw.total, "swap_used_bytes": sw.used,
            "disk_read_bps": disk_read, "disk_write_bps": disk_write,
            "disks": disks,
            "disk_io": {d: {"read_bps": r[0], "write_bps": r[1]} for d, r in disk_rates.items()},
            "net_rx_bps": sum(r[0] for r in net_rates.values()),
            "net_tx_bps": sum(r[1] for r in net_rates.values()),
            "networks": networks,
            "temperatures": temperatures,
            "process_count": len(psutil.pids()),
            "boot_time": boot,
            "uptime_s": int(time.time() - boot),
        }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="JSON-lines file to append to")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--for", dest="run_for", type=float, default=None,
                    help="stop after this many seconds (default: until SIGTERM/SIGINT)")
    ap.add_argument("--fsync", action="store_true",
                    help="fsync after every sample (pcmetrics' durability; off like collectd's csv)")
    args = ap.parse_args()

    stopping = False

    def stop(_sig, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    sampler = Sampler()
    started = time.monotonic()
    # Absolute schedule (not sleep(interval)) so the cadence does not drift by the
    # sampling time, as pcmetrics' loop does.
    next_at = started + args.interval
    with open(args.out, "a", encoding="utf-8") as out:
        while not stopping:
            delay = next_at - time.monotonic()
            if delay > 0:
                # PEP 475: the sleep resumes after a signal, so a stop takes at most
                # one interval.
                time.sleep(delay)
                if stopping:
                    break
            next_at += args.interval
            out.write(json.dumps(sampler.sample(), separators=(",", ":")) + "\n")
            out.flush()
            if args.fsync:
                os.fsync(out.fileno())
            if args.run_for is not None and time.monotonic() - started >= args.run_for:
                break


if __name__ == "__main__":
    main()
