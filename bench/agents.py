#!/usr/bin/env python3
"""Sampler cost of three metrics agents on this machine: pcmetrics, a psutil loop and
collectd, each sampling every second, run one after another, measured the same way
(CPU time from /proc/<pid>/stat, VmRSS from /proc/<pid>/status). See bench/README.md.

    bench/agents.py [--seconds 120] [--warmup 3] [--only pcmetrics,psutil,collectd]
                    [--threads] [--keep]

Installs what it needs (collectd-core via apt, psutil in .cache/bench-venv) and builds
target/release/pcmetrics if it is missing. Python 3 standard library only.
"""

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PCMETRICS = REPO / "target" / "release" / "pcmetrics"
VENV = REPO / ".cache" / "bench-venv"
VENV_PY = VENV / "bin" / "python"
COLLECTD = Path("/usr/sbin/collectd")
CLK_TCK = os.sysconf("SC_CLK_TCK")
# How long past the window an agent's own timer lets it live: if this driver dies in a
# way that skips its cleanup, the agents still stop by themselves.
SAFETY_MARGIN_S = 120


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


def retry(what, attempts, fn):
    for i in range(1, attempts + 1):
        try:
            return fn()
        except subprocess.CalledProcessError as e:
            if i == attempts:
                sys.exit(f"bench: {what} failed {attempts} times (last: {e})")
            log(f"{what} failed (attempt {i}/{attempts}), retrying in {5 * i}s")
            time.sleep(5 * i)


# ---------------------------------------------------------------- setup


def apt_install(*packages):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

    def attempt():
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)

    retry(f"apt-get install {' '.join(packages)}", 3, attempt)


def ensure_collectd():
    if COLLECTD.exists():
        return
    apt_install("collectd-core")
    # collectd-core ships an init script and a systemd unit. In a container policy-rc.d
    # usually refuses the start, and without /etc/collectd/collectd.conf the script does
    # not start it either. Should a daemon run anyway, this install started it: stop it,
    # and disable the service so it does not come back at boot.
    if Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "stop", "collectd.service"], check=False)
    elif Path("/run/collectd.pid").exists():
        subprocess.run(["invoke-rc.d", "collectd", "stop"], check=False)
    subprocess.run(["update-rc.d", "collectd", "disable"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "collectd.service"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def ensure_venv():
    if VENV_PY.exists() and subprocess.run(
            [VENV_PY, "-c", "import psutil"], stderr=subprocess.DEVNULL).returncode == 0:
        return
    VENV.parent.mkdir(parents=True, exist_ok=True)
    try:
        run([sys.executable, "-m", "venv", VENV])
    except subprocess.CalledProcessError:
        # Debian's own python3 needs python3-venv for ensurepip.
        shutil.rmtree(VENV, ignore_errors=True)
        apt_install("python3-venv")
        run([sys.executable, "-m", "venv", VENV])
    retry("pip install psutil", 3,
          lambda: run([VENV_PY, "-m", "pip", "install", "-q", "psutil"]))


def ensure_pcmetrics():
    if not PCMETRICS.exists():
        run(["cargo", "build", "--release", "-p", "pcmetrics-cli"], cwd=REPO)


# ---------------------------------------------------------------- /proc


def stat_fields(path):
    """Fields of a /proc stat file after the `(comm)`, which may contain spaces."""
    text = Path(path).read_text()
    return text[text.rindex(")") + 2:].split()


def own_ticks(pid):
    # utime, stime, cutime, cstime: fields 14-17; the list starts at field 3.
    f = stat_fields(f"/proc/{pid}/stat")
    return sum(int(x) for x in f[11:15])


def descendants(pid):
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int(stat_fields(d / "stat")[1])
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def tree_ticks(pid):
    """CPU ticks of the process (all its threads) plus its children, live or reaped."""
    total = own_ticks(pid)
    for c in descendants(pid):
        try:
            total += own_ticks(c)
        except (OSError, ValueError):
            pass  # exited between the scan and the read; cutime will carry it
    return total


def thread_runtime(pid):
    """{tid: (name, ns on CPU)} for every thread of the process and its children.
    schedstat has ns resolution where stat has 10 ms ticks, but only for live threads."""
    out = {}
    for p in [pid, *descendants(pid)]:
        try:
            tasks = list(Path(f"/proc/{p}/task").iterdir())
        except OSError:
            continue
        for t in tasks:
            try:
                comm = (t / "comm").read_text().strip()
                ns = int((t / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            out[int(t.name)] = (comm, ns)
    return out


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- agents


class Agent:
    name = ""
    stop_signal = signal.SIGTERM
    stop_timeout_s = 30

    def __init__(self, workdir, lifetime_s):
        self.dir = workdir
        self.lifetime_s = lifetime_s

    def argv(self):
        raise NotImplementedError

    def env(self):
        return dict(os.environ)

    def samples(self):
        """Samples persisted so far."""
        raise NotImplementedError

    def version(self):
        return ""


class Pcmetrics(Agent):
    name = "pcmetrics"
    # On stop it flushes and makes one last sync of everything sampled (bounded at 30 s).
    stop_timeout_s = 60

    def __init__(self, workdir, lifetime_s):
        super().__init__(workdir, lifetime_s)
        self.data = workdir / "data"
        # An empty config, so a ~/.config/pcmetrics/config.toml cannot change the setup.
        self.config = workdir / "config.toml"
        self.config.write_text("")

    def base(self):
        return [PCMETRICS, "--config", self.config, "--data-dir", self.data]

    def argv(self):
        return [*self.base(), "run", "--for", f"{self.lifetime_s}s"]

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PCMETRICS_")}
        # No sync during the window: we measure sampling + buffering. `run` still tries
        # one sync at start (empty buffer, inside the warm-up) and one at stop (after it).
        env["PCMETRICS_SYNC__INTERVAL"] = "1h"
        return env

    def samples(self):
        out = subprocess.run([str(c) for c in self.base()] + ["status", "--json"],
                             env=self.env(), capture_output=True, text=True, check=True)
        return int(json.loads(out.stdout)["buffer"]["last_seq"])

    def version(self):
        out = subprocess.run([PCMETRICS, "--version"], capture_output=True, text=True)
        return out.stdout.strip()


class Psutil(Agent):
    name = "psutil"

    def __init__(self, workdir, lifetime_s):
        super().__init__(workdir, lifetime_s)
        self.out = workdir / "samples.jsonl"

    def argv(self):
        return [VENV_PY, BENCH / "psutil_agent.py", "--out", self.out,
                "--interval", "1", "--for", str(self.lifetime_s)]

    def samples(self):
        if not self.out.exists():
            return 0
        with open(self.out, "rb") as f:
            return f.read().count(b"\n")

    def version(self):
        out = subprocess.run([VENV_PY, "-c", "import psutil, sys; print("
                              "f'psutil {psutil.__version__}, python {sys.version.split()[0]}')"],
                             capture_output=True, text=True)
        return out.stdout.strip()


class Collectd(Agent):
    name = "collectd"

    def __init__(self, workdir, lifetime_s):
        super().__init__(workdir, lifetime_s)
        self.conf = workdir / "collectd.conf"
        self.conf.write_text((BENCH / "collectd.conf").read_text().replace("@DIR@", str(workdir)))
        subprocess.run([COLLECTD, "-t", "-C", self.conf], check=True)

    def argv(self):
        # collectd has no run-for; the driver's cleanup and PDEATHSIG stop it.
        return [COLLECTD, "-f", "-C", self.conf]

    def samples(self):
        # One line per value per read, in per-day files, each with a header line.
        n = 0
        for f in (self.dir / "csv" / "bench" / "load").glob("load-*"):
            with open(f, "rb") as fh:
                n += max(fh.read().count(b"\n") - 1, 0)
        return n

    def version(self):
        out = subprocess.run([COLLECTD, "-h"], capture_output=True, text=True)
        return next((l for l in out.stdout.splitlines() if l.startswith("collectd ")), "collectd")


AGENTS = {a.name: a for a in (Pcmetrics, Psutil, Collectd)}


# ---------------------------------------------------------------- measurement


def die_with_parent():
    # Runs in the child before exec: the kernel sends SIGTERM to the agent if this
    # driver dies, even by SIGKILL, so no agent is ever left behind.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop(agent, proc):
    tree = descendants(proc.pid)
    t = time.monotonic()
    proc.send_signal(agent.stop_signal)
    try:
        code = proc.wait(timeout=agent.stop_timeout_s)
    except subprocess.TimeoutExpired:
        log(f"{agent.name} ignored {agent.stop_signal.name} for {agent.stop_timeout_s}s: SIGKILL")
        proc.kill()
        code = proc.wait()
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
            log(f"{agent.name}: child {pid} outlived its parent, killed")
        except ProcessLookupError:
            pass
    return code, time.monotonic() - t


def measure(cls, seconds, warmup, keep, threads):
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{cls.name}-"))
    agent = cls(workdir, int(warmup + seconds + SAFETY_MARGIN_S))
    logfile = open(workdir / "agent.log", "wb")
    log(f"{agent.name}: starting in {workdir}")
    proc = subprocess.Popen([str(a) for a in agent.argv()], env=agent.env(), cwd=workdir,
                            stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=die_with_parent)
    result = {"agent": agent.name, "version": agent.version()}
    try:
        time.sleep(warmup)
        if proc.poll() is not None:
            raise RuntimeError(f"{agent.name} exited during warm-up (code {proc.returncode}); "
                               f"see {workdir}/agent.log")
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        c0 = tree_ticks(proc.pid)
        th0 = thread_runtime(proc.pid)
        s0 = agent.samples()
        rss = []
        for i in range(seconds):
            rss.append(rss_kib(proc.pid))
            time.sleep(max(0.0, t0 + i + 1 - time.monotonic()))
        c1 = tree_ticks(proc.pid)
        t1 = time.monotonic()
        th1 = thread_runtime(proc.pid)
        rss.append(rss_kib(proc.pid))
        s1 = agent.samples()
        load1 = os.getloadavg()[0]
        if proc.poll() is not None:
            raise RuntimeError(f"{agent.name} exited during the window; see {workdir}/agent.log")
    finally:
        code, stop_s = stop(agent, proc)
        logfile.close()

    window = t1 - t0
    cpu_s = (c1 - c0) / CLK_TCK
    result.update(
        window_s=window,
        cpu_s=cpu_s,
        core_pct=cpu_s / window * 100,
        cpu_s_per_min=cpu_s / window * 60,
        rss_mean_mb=sum(rss) / len(rss) / 1024,
        rss_max_mb=max(rss) / 1024,
        samples=s1 - s0,
        warmup_cpu_s=c0 / CLK_TCK,
        threads=len(th1),
        sched_cpu_s=sum(ns - th0.get(tid, (c, 0))[1] for tid, (c, ns) in th1.items()) / 1e9,
        load=(load0, load1),
        exit_code=code,
        stop_s=stop_s,
        per_thread=per_thread(th0, th1) if threads else None,
    )
    if keep:
        log(f"{agent.name}: kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def per_thread(before, after):
    """CPU seconds per thread name in the window (threads that ended in it are missed)."""
    by_name = {}
    for tid, (comm, ns) in after.items():
        start = before.get(tid, (comm, 0))[1]
        n, total = by_name.get(comm, (0, 0))
        by_name[comm] = (n + 1, total + ns - start)
    return sorted(((c, n, t / 1e9) for c, (n, t) in by_name.items()), key=lambda r: -r[2])


# ---------------------------------------------------------------- report


def report(results, seconds):
    print()
    print(f"Sampler cost, 1 s interval, {seconds} s window; {os.cpu_count()} CPUs, "
          f"{os.uname().release}, CLK_TCK={CLK_TCK}, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print()
    print("| agent | window s | CPU s | % of a core | CPU s/min | RSS mean MB | RSS max MB | samples |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['agent']} | {r['window_s']:.1f} | {r['cpu_s']:.2f} | {r['core_pct']:.3f} "
              f"| {r['cpu_s_per_min']:.3f} | {r['rss_mean_mb']:.1f} | {r['rss_max_mb']:.1f} "
              f"| {r['samples']} |")
    print()
    print("| agent | version | threads | CPU s (schedstat) | start-up + warm-up CPU s "
          "| load 1m start → end | stop s | exit |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for r in results:
        print(f"| {r['agent']} | {r['version']} | {r['threads']} | {r['sched_cpu_s']:.3f} "
              f"| {r['warmup_cpu_s']:.2f} | {r['load'][0]:.2f} → {r['load'][1]:.2f} "
              f"| {r['stop_s']:.1f} | {r['exit_code']} |")
    for r in results:
        if r["per_thread"]:
            print()
            print(f"{r['agent']}: CPU s per thread name in the window (schedstat):")
            for comm, n, s in r["per_thread"]:
                print(f"  {comm:<24} x{n:<3} {s:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=120, help="measured window per agent")
    ap.add_argument("--warmup", type=float, default=3.0,
                    help="seconds between start and the window (start-up is not sampling)")
    ap.add_argument("--only", default=",".join(AGENTS),
                    help="comma-separated subset, in run order (default: all three)")
    ap.add_argument("--threads", action="store_true",
                    help="also print CPU per thread name, to see where an agent spends it")
    ap.add_argument("--keep", action="store_true", help="keep each agent's temp dir")
    args = ap.parse_args()
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in AGENTS]
    if unknown or not chosen or args.seconds < 1:
        ap.error(f"--only takes {', '.join(AGENTS)}; --seconds at least 1")

    # Turn SIGTERM into an exception so the cleanup in measure() stops the agent.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if "pcmetrics" in chosen:
        ensure_pcmetrics()
    if "psutil" in chosen:
        ensure_venv()
    if "collectd" in chosen:
        ensure_collectd()

    results = []
    for i, name in enumerate(chosen):
        if i:
            time.sleep(2)  # let the previous agent's shutdown I/O settle
        results.append(measure(AGENTS[name], args.seconds, args.warmup, args.keep, args.threads))
    report(results, args.seconds)


if __name__ == "__main__":
    main()
