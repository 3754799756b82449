#!/usr/bin/env python3
"""Sync throughput: `pcmetrics sync` against the Python pipeline it replaces (pyarrow +
pyiceberg), on the same samples, into the same kind of Iceberg table; embedded (local
folder + SQL catalog) and S3 + REST (scripts/test-stack on its own ports), at two
boundaries: Python reading pcmetrics' buffer, and Python handed the same rows as Python
objects in memory; and one hour of 1 s samples synced at once by pcmetrics against the
original design's one Parquet file and one table append per collection. See
bench/README.md ("Sync throughput").

    bench/sync.py [--rows 1000000] [--batch-rows 100000] [--only embedded,memory,s3,hour]
                  [--repeat 1] [--hour-samples 3600] [--per-collection-budget 600]
                  [--pcmetrics-per-sample] [--pcmetrics BIN] [--keep] [--json FILE]

Creates the venv .cache/bench-sync-venv (pyiceberg[pyarrow,sql-sqlite,pyiceberg-core]
0.12) and builds target/release/pcmetrics if missing. The driver is Python 3 stdlib only;
the Python pipeline runs in bench/sync_worker.py with the venv's python.
"""

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PCMETRICS = REPO / "target" / "release" / "pcmetrics"
STACK = REPO / "scripts" / "test-stack"
WORKER = BENCH / "sync_worker.py"
VENV = REPO / ".cache" / "bench-sync-venv"
VENV_PY = VENV / "bin" / "python"
# pyiceberg-core: pyiceberg 0.12 needs it to write a table partitioned by day(ts).
PYICEBERG = "pyiceberg[pyarrow,sql-sqlite,pyiceberg-core]==0.12.*"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Our own stack instance, so CI on the default ports is not disturbed.
STACK_ENV = {
    "PCMETRICS_STACK_S3_PORT": "49000",
    "PCMETRICS_STACK_REST_PORT": "48181",
    "PCMETRICS_STACK_STATE": "/tmp/pcmetrics-stack-bench",
}


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    return subprocess.run([str(c) for c in cmd], check=True, **kw)


# ---------------------------------------------------------------- setup


def ensure_venv():
    check = "import pyiceberg, pyarrow, sqlalchemy, pyiceberg_core; assert pyiceberg.__version__.startswith('0.12')"
    if VENV_PY.exists() and subprocess.run([VENV_PY, "-c", check],
                                           stderr=subprocess.DEVNULL).returncode == 0:
        return
    VENV.parent.mkdir(parents=True, exist_ok=True)
    if not VENV_PY.exists():
        run([sys.executable, "-m", "venv", VENV])
    for i in range(1, 4):
        try:
            run([VENV_PY, "-m", "pip", "install", "-q", PYICEBERG])
            return
        except subprocess.CalledProcessError:
            if i == 3:
                raise
            log(f"pip install failed (attempt {i}/3), retrying in {5 * i}s")
            time.sleep(5 * i)


def ensure_pcmetrics():
    if not PCMETRICS.exists():
        if PCMETRICS != REPO / "target" / "release" / "pcmetrics":
            sys.exit(f"--pcmetrics: {PCMETRICS} does not exist")
        run(["cargo", "build", "--release", "-p", "pcmetrics-cli"], cwd=REPO)


# ---------------------------------------------------------------- helpers


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def server_ticks(pids):
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        f = text[text.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12])
    return total


def dir_stats(path):
    """(files, bytes) under a local directory."""
    files = size = 0
    for root, _, names in os.walk(path):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(root, n))
    return files, size


def local_path(uri):
    return uri[len("file://"):] if uri.startswith("file://") else uri


def worker(mode, spec):
    """Runs the venv side; returns its JSON result and the process's wall time."""
    t0 = time.perf_counter()
    out = subprocess.run([VENV_PY, WORKER, mode], input=json.dumps(spec), text=True,
                         stdout=subprocess.PIPE, check=True)
    wall = time.perf_counter() - t0
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


class Pcmetrics:
    """One pcmetrics data dir with its environment (config, table name, keys)."""

    def __init__(self, data_dir, config, extra_env=None):
        self.dir = Path(data_dir)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("PCMETRICS_") and k not in ("PCMETRICS_LOG",):
                del self.env[k]
        self.env.update({
            # Keep every synced sample in the buffer (the Python side reads them back)
            # and never drop pending ones, whatever --rows is.
            "PCMETRICS_BUFFER__RETENTION": "3650d",
            "PCMETRICS_BUFFER__ROLLUP_RETENTION": "3650d",
            "PCMETRICS_BUFFER__MAX_PENDING": "100000000",
        })
        self.env.update(extra_env or {})
        self.config = config

    def cmd(self, *args, quiet=False):
        argv = [PCMETRICS, "--data-dir", self.dir, "--config", self.config, *args]
        if quiet:
            return subprocess.run([str(c) for c in argv], env=self.env, text=True,
                                  stdout=subprocess.PIPE, check=True).stdout
        return run(argv, env=self.env, text=True, stdout=subprocess.PIPE).stdout

    def simulate(self, n, start=None, quiet=False):
        out = self.cmd("simulate", "--samples", n, "--step", "1s",
                       *(["--start", start] if start else []), quiet=quiet)
        if not quiet:
            log(out.strip())

    def sync(self, server_pids=(), quiet=False):
        """Timed: `pcmetrics sync --json`, process start to exit."""
        load1 = os.getloadavg()[0]
        srv0, cpu0, t0 = server_ticks(server_pids), children_cpu(), time.perf_counter()
        out = self.cmd("sync", "--json", quiet=quiet)
        wall = time.perf_counter() - t0
        cpu = children_cpu() - cpu0
        srv = (server_ticks(server_pids) - srv0) / CLK_TCK
        rep = json.loads(out)
        rep.pop("landed", None)
        return {"wall_s": wall, "cpu_s": cpu, "server_cpu_s": srv if server_pids else None,
                "load1": load1, "report": rep}

    def status(self):
        return json.loads(self.cmd("status", "--json"))


# ---------------------------------------------------------------- the stack


def stack(cmd):
    env = dict(os.environ, **STACK_ENV)
    return run([STACK, cmd], env=env, text=True, stdout=subprocess.PIPE).stdout


def stack_env():
    out = {}
    for line in stack("env").splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            out[k] = v
    return out


def stack_pids():
    p = Path(STACK_ENV["PCMETRICS_STACK_STATE"]) / "pids"
    return [int(l.split()[0]) for l in p.read_text().splitlines() if l.strip()]


# ---------------------------------------------------------------- (a)-(c): bulk


def bulk(backend, work, args, only, rep, s3=None):
    """pcmetrics sync of N samples, then the Python pipeline on the same rows: read from the
    buffer (when `backend` is in `only`), and handed over as Python objects (`memory`)."""
    tag = time.strftime("%Y%m%d%H%M%S") + f"r{rep}"
    base = work / f"{backend}-{rep}"
    base.mkdir(parents=True)
    if s3 is None:
        config = base / "empty.toml"
        config.write_text("")
        extra, props, pids = {}, {}, []
    else:
        config = base / "stack.toml"
        config.write_text(stack("config"))
        extra = {
            "AWS_ACCESS_KEY_ID": s3["PCMETRICS_TEST_S3_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": s3["PCMETRICS_TEST_S3_SECRET"],
            "PCMETRICS_SYNC__TABLE": f"pc_metrics_bench_{tag}",
        }
        props = {
            "s3.endpoint": s3["PCMETRICS_TEST_S3_ENDPOINT"],
            "s3.access-key-id": s3["PCMETRICS_TEST_S3_KEY_ID"],
            "s3.secret-access-key": s3["PCMETRICS_TEST_S3_SECRET"],
            "s3.region": s3["PCMETRICS_TEST_S3_REGION"],
            "s3.force-virtual-addressing": "false",
        }
        pids = stack_pids()
    extra["PCMETRICS_SYNC__BATCH_ROWS"] = str(args.batch_rows)
    pcm = Pcmetrics(base / "pcmetrics", config, extra)

    pcm.simulate(args.rows)
    log(f"{backend} run {rep + 1}/{args.repeat}: timing pcmetrics sync of {args.rows} samples")
    p = pcm.sync(pids)
    st = pcm.status()
    meta = st["metadata_location"]
    p["table"] = worker("inspect", {"metadata": meta, "props": props})[0]["table"]
    # The sync ends with a table maintenance run (it compacts the closed days of the
    # backlog); its own report says how long that took.
    p["maintenance"] = (st.get("last_maintenance") or {}).get("report")
    if s3 is None:
        data_dir = local_path(p["table"]["location"]) + "/data"
        p["data_dir_files"], p["data_dir_bytes"] = dir_stats(data_dir)
    out = {"backend": backend, "rep": rep, "rows": args.rows, "pcmetrics": p}

    def sql_catalog(root):
        root.mkdir()
        return ({"kind": "sql", "uri": f"sqlite:///{root}/catalog.db",
                 "warehouse": f"file://{root}/warehouse"}, f"file://{root}/landing/pc_metrics")

    if backend in only:
        if s3 is None:
            cat, landing = sql_catalog(base / "python")
        else:
            cat = {"kind": "rest", "uri": s3["PCMETRICS_TEST_REST_URI"], "props": props}
            landing = f"s3://{s3['PCMETRICS_TEST_S3_BUCKET']}/landing/py_pc_metrics_{tag}"
        last = st["buffer"]["last_seq"]
        spec = {
            "buffer": str(pcm.dir / "buffer.db"), "seq_lo": last - args.rows + 1, "seq_hi": last,
            "host_id": st["host_id"], "hostname": st["hostname"], "source_metadata": meta,
            "props": props, "catalog": cat, "table": f"bench.py_pc_metrics_{tag}",
            "landing": landing, "batch_rows": args.batch_rows, "zstd_level": args.zstd_level,
            "server_pids": pids,
        }
        log(f"{backend} run {rep + 1}/{args.repeat}: timing the Python pipeline from the "
            f"buffer on the same {args.rows} samples")
        py, py_process = worker("bulk", spec)
        py["process_wall_s"] = py_process
        if s3 is None:
            py["data_dir_files"], py["data_dir_bytes"] = dir_stats(local_path(py["table"]["location"]) + "/data")
        out["python"] = py

    if "memory" in only:
        out["memory"] = {}
        for name, partitioned in (("unpartitioned", False), ("day", True)):
            if s3 is None:
                cat, landing = sql_catalog(base / f"python-memory-{name}")
            else:
                cat = {"kind": "rest", "uri": s3["PCMETRICS_TEST_REST_URI"], "props": props}
                landing = (f"s3://{s3['PCMETRICS_TEST_S3_BUCKET']}/landing/"
                           f"py_mem_{name}_{tag}")
            spec = {"source_metadata": meta, "props": props, "catalog": cat,
                    "table": f"bench.py_mem_{name}_{tag}", "landing": landing,
                    "zstd_level": args.zstd_level, "partitioned": partitioned}
            log(f"{backend} run {rep + 1}/{args.repeat}: timing the Python pipeline from "
                f"Python objects, {name}")
            m, m_process = worker("memory", spec)
            m["process_wall_s"] = m_process
            out["memory"][name] = m

    tables = [("pcmetrics", p["table"]["records"])]
    tables += [("python", out["python"]["table"]["records"])] if "python" in out else []
    tables += [(f"python memory {k}", v["table"]["records"]) for k, v in out.get("memory", {}).items()]
    for who, r in tables:
        if r != args.rows:
            log(f"WARNING: {backend}: the {who} table has {r} rows, expected {args.rows}")
    return out


# ---------------------------------------------------------------- (d): one hour


def hour(work, args):
    n = args.hour_samples
    base = work / "hour"
    base.mkdir(parents=True)
    config = base / "empty.toml"
    config.write_text("")
    # Yesterday from 00:00 UTC: one UTC day, so one file per batch.
    day = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)).date()
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    out = {"samples": n}

    def pcm_run(name, syncs):
        pcm = Pcmetrics(base / name, config)
        per = n // syncs
        wall = cpu = 0.0
        for i in range(syncs):
            pcm.simulate(per, (start + dt.timedelta(seconds=i * per)).strftime("%Y-%m-%dT%H:%M:%SZ"))
            r = pcm.sync()
            wall += r["wall_s"]
            cpu += r["cpu_s"]
        st = pcm.status()
        t = worker("inspect", {"metadata": st["metadata_location"]})[0]["table"]
        loc = local_path(t["location"])
        return pcm, st, {
            "syncs": syncs, "wall_s": wall, "cpu_s": cpu, "table": t,
            "data": dir_stats(loc + "/data"), "metadata": dir_stats(loc + "/metadata"),
            "landing": dir_stats(pcm.dir / "lakehouse" / "landing"),
        }

    log(f"hour: pcmetrics, {n} samples, one sync")
    pcm, st, out["pcmetrics_1"] = pcm_run("pcmetrics-1", 1)
    if n % 12 == 0:
        log(f"hour: pcmetrics, {n} samples, 12 syncs (the default sync.interval 5m)")
        out["pcmetrics_12"] = pcm_run("pcmetrics-12", 12)[2]

    if args.pcmetrics_per_sample:
        log(f"hour: pcmetrics, one sync per sample, up to {n} (stops after "
            f"{args.per_collection_budget} s of sync time)")
        pps = Pcmetrics(base / "pcmetrics-per-sample", config)
        per, cpu = [], 0.0
        for i in range(n):
            pps.simulate(1, (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         quiet=True)
            r = pps.sync(quiet=True)
            per.append(r["wall_s"])
            cpu += r["cpu_s"]
            if sum(per) > args.per_collection_budget:
                break
        t = worker("inspect", {"metadata": pps.status()["metadata_location"]})[0]["table"]
        loc = local_path(t["location"])
        k = max(1, len(per) // 10)
        out["pcmetrics_per_sample"] = {
            "appends": len(per), "wall_s": sum(per), "cpu_s": cpu, "per_append_s": per,
            "first_ms": 1000 * sum(per[:k]) / k, "last_ms": 1000 * sum(per[-k:]) / k, "table": t,
            "data": dir_stats(loc + "/data"), "metadata": dir_stats(loc + "/metadata"),
            "landing": dir_stats(pps.dir / "lakehouse" / "landing"),
        }

    py_root = base / "python"
    py_root.mkdir()
    spec = {
        "buffer": str(pcm.dir / "buffer.db"), "seq_lo": 1, "seq_hi": n,
        "host_id": st["host_id"], "hostname": st["hostname"],
        "source_metadata": st["metadata_location"], "props": {},
        "catalog": {"kind": "sql", "uri": f"sqlite:///{py_root}/catalog.db",
                    "warehouse": f"file://{py_root}/warehouse"},
        "table": "bench.py_pc_metrics", "landing": f"file://{py_root}/landing/pc_metrics",
        "zstd_level": args.zstd_level, "budget_s": args.per_collection_budget,
    }
    log(f"hour: Python, one landing file + one append per sample, up to {n} "
        f"(stops after {args.per_collection_budget} s)")
    py = worker("per-collection", spec)[0]
    loc = local_path(py["table"]["location"])
    py["data"] = dir_stats(loc + "/data")
    py["metadata"] = dir_stats(loc + "/metadata")
    py["landing"] = dir_stats(py_root / "landing")
    out["python"] = py
    return out


# ---------------------------------------------------------------- report


def fmt_int(x):
    return f"{x:,}".replace(",", " ") if x is not None else "–"


def fmt_s(x, digits=2):
    return f"{x:.{digits}f}" if x is not None else "–"


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def maintenance_s(p):
    m = p.get("maintenance")
    return m["duration_ms"] / 1000 if m else 0.0


def bulk_lines(r):
    """The pipelines of one run: (key, label, timed s, CPU s, table stats, load avg);
    pcmetrics first, then the same run without its maintenance step."""
    p = r["pcmetrics"]
    lines = [
        ("pcm", "pcmetrics `sync`: buffer → snapshot (process start → exit)", p["wall_s"],
         p["cpu_s"], p["table"], p["load1"]),
        ("pcm-", "pcmetrics `sync` without its maintenance step (same run)",
         p["wall_s"] - maintenance_s(p), None, p["table"], p["load1"]),
    ]
    if "python" in r:
        py = r["python"]
        ph = py["phases"]
        lines += [
            ("buf", "python: buffer → snapshot (load + read + build + land + append)",
             py["wall_s"], py["cpu_s"], py["table"], py["load1"]),
            ("buf-", "python: build + append only (of the row above)",
             ph["build"] + ph["append"], None, py["table"], py["load1"]),
        ]
    labels = {"unpartitioned": "unpartitioned", "day": "partitioned by day(ts)"}
    for name, m in r.get("memory", {}).items():
        lines.append((f"mem-{name}", f"python: objects in memory → snapshot, {labels[name]}",
                       m["wall_s"], m["cpu_s"], m["table"], m["load1"]))
    return lines


def report_bulk(results, args):
    n = args.rows
    backends = list(dict.fromkeys(r["backend"] for r in results))
    print()
    print(f"### Sync of {fmt_int(n)} samples (1 s apart), batches of {fmt_int(args.batch_rows)}; "
          f"{os.cpu_count()} CPUs; {args.repeat} run(s) per backend, pcmetrics and Python in turn")
    print()
    print("Medians over the runs. The ratios are the medians of each run's ratio (both sides "
          "timed back to back, under the same load; range in brackets): `÷ this` against "
          "pcmetrics' whole `sync`, `w/o maint. ÷ this` against the same run up to its last "
          "commit, without the maintenance that follows it. Load: the 1-minute load average "
          "when each timed section started (range over the runs).")
    print()
    print("| backend | pipeline | timed s | rows/s | CPU s | files | snapshots | table bytes | B/sample | pcmetrics ÷ this | w/o maint. ÷ this | load avg |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")

    def ratio(xs):
        rng = f" ({min(xs):.2f}–{max(xs):.2f})" if len(xs) > 1 else ""
        return f"{median(xs):.2f}×{rng}"

    for b in backends:
        per_run = [bulk_lines(r) for r in results if r["backend"] == b]
        for i, (key, name, _, _, t, _) in enumerate(per_run[0]):
            walls = [lines[i][2] for lines in per_run]
            cpus = [lines[i][3] for lines in per_run if lines[i][3] is not None]
            loads = [lines[i][5] for lines in per_run]
            full = ratio([lines[i][2] / lines[0][2] for lines in per_run]) if i else "1.00×"
            bare = (ratio([lines[i][2] / lines[1][2] for lines in per_run]) if i > 1 else
                    "–" if i == 0 else "1.00×")
            lrng = f"{min(loads):.1f}–{max(loads):.1f}" if len(loads) > 1 else f"{loads[0]:.1f}"
            print(f"| {b} | {name} | {fmt_s(median(walls))} | {fmt_int(round(n / median(walls)))} "
                  f"| {fmt_s(median(cpus)) if cpus else '–'} | {t['data_files']} | {t['snapshots']} "
                  f"| {fmt_int(t['files_size'])} | {t['files_size'] / n:.1f} | {full} | {bare} "
                  f"| {lrng} |")
    if args.repeat > 1:
        print()
        print("Every run, in the order they ran (derived rows left out):")
        print()
        print("| run | backend | pipeline | timed s | rows/s | pcmetrics ÷ this | w/o maint. ÷ this | load avg |")
        print("|---:|---|---|---:|---:|---:|---:|---:|")
        for r in results:
            lines = bulk_lines(r)
            for key, name, wall, _, _, load in lines:
                if key.endswith("-"):
                    continue
                bare = f"{wall / lines[1][2]:.2f}×" if key != "pcm" else "–"
                print(f"| {r['rep'] + 1} | {r['backend']} | {name} | {fmt_s(wall)} | "
                      f"{fmt_int(round(n / wall))} | {wall / lines[0][2]:.2f}× | {bare} | {load:.1f} |")
    print()
    print("Where the time goes (s, medians). pcmetrics: its own `duration_ms` (from taking "
          "the sync lock to the end of its maintenance run), the maintenance run's inside "
          "the process wall time, and its stage times summed over batches (read = buffer "
          "read and decode, build Arrow = Arrow and Parquet encoding, append = writing the "
          "table's files and committing); its stages overlap across batches, so they add up "
          "to more than the in-process time. Python from the buffer: phases of the timed "
          "section, and the whole worker process (interpreter, imports, table creation) for "
          "reference.")
    print()
    print("| backend | pipeline | process s | in-process s | maintenance | load table | read buffer | build Arrow | land | append | S3+REST servers CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for b in backends:
        rs = [r for r in results if r["backend"] == b]
        med = lambda f, rs=rs: median([f(r) for r in rs])
        srv = lambda who, rs=rs: (None if rs[0][who]["server_cpu_s"] is None
                                  else median([r[who]["server_cpu_s"] for r in rs]))
        # pcmetrics' own stage times (summed over batches; they overlap, see above).
        def stage(*keys, rs=rs):
            if not all("stages" in r["pcmetrics"]["report"] for r in rs):
                return None
            return median([sum(r["pcmetrics"]["report"]["stages"][k] for k in keys) / 1000
                           for r in rs])
        print(f"| {b} | pcmetrics | {fmt_s(med(lambda r: r['pcmetrics']['wall_s']))} | "
              f"{fmt_s(med(lambda r: r['pcmetrics']['report']['duration_ms'] / 1000))} | "
              f"{fmt_s(med(lambda r: maintenance_s(r['pcmetrics'])))} | – | "
              f"{fmt_s(stage('read_ms'))} | {fmt_s(stage('encode_ms'))} | "
              f"{fmt_s(stage('land_ms'))} | {fmt_s(stage('stage_ms', 'commit_ms'))} "
              f"| {fmt_s(srv('pcmetrics'))} |")
        rs = [r for r in rs if "python" in r]
        if not rs:
            continue
        ph = lambda k, rs=rs: fmt_s(median([r["python"]["phases"][k] for r in rs]))
        print(f"| {b} | python | {fmt_s(median([r['python']['process_wall_s'] for r in rs]))} | "
              f"{fmt_s(median([r['python']['wall_s'] for r in rs]))} | – | {ph('load')} | "
              f"{ph('read')} | {ph('build')} | {ph('land')} | {ph('append')} | "
              f"{fmt_s(srv('python', rs))} |")
    mem_runs = [r for r in results if "memory" in r]
    if mem_runs:
        print()
        print("Python from objects in memory (s, medians): the timed phases; set-up (untimed) is "
              "reading the pcmetrics table and turning it into one dict per sample.")
        print()
        print("| backend | table | timed s | load table | to columns | build Arrow | land (1 file) | append | set-up s |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for b in backends:
            for name in ("unpartitioned", "day"):
                ms = [r["memory"][name] for r in mem_runs if r["backend"] == b]
                if not ms:
                    continue
                med = lambda f, ms=ms: fmt_s(median([f(m) for m in ms]))
                print(f"| {b} | {name} | {med(lambda m: m['wall_s'])} | "
                      + " | ".join(med(lambda m, k=k: m["phases"][k])
                                   for k in ("load", "columns", "build", "land", "append"))
                      + f" | {med(lambda m: m['setup_load_s'])} |")
    print()
    for r in results:
        p = r["pcmetrics"]
        rep = p["report"]
        m = p.get("maintenance") or {}
        line = (f"- {r['backend']} run {r['rep'] + 1}: pcmetrics reported {fmt_int(rep['rows'])} rows, "
                f"{rep['batches']} batches, {rep['files']} files, {fmt_int(rep['bytes'])} B, then "
                f"maintenance compacted {m.get('days_compacted', 0)} closed days and "
                f"{m.get('hours_compacted', 0)} closed hours ({fmt_int(m.get('rows_compacted', 0))} "
                f"rows) in {maintenance_s(p):.2f} s; its table "
                f"holds {fmt_int(p['table']['records'])} rows")
        if "python" in r:
            py = r["python"]
            line += (f"; python from the buffer: {fmt_int(py['table']['records'])} rows, "
                     f"{py['landing_files']} landing files in {py['batches']} appends")
            if "data_dir_bytes" in p:
                line += (f"; under data/: pcmetrics {p['data_dir_files']} files "
                         f"{fmt_int(p['data_dir_bytes'])} B (compacted days included), python "
                         f"{py['data_dir_files']} files {fmt_int(py['data_dir_bytes'])} B")
        for name, mm in r.get("memory", {}).items():
            line += (f"; python from memory, {name}: {fmt_int(mm['table']['records'])} rows, "
                     f"{mm['table']['data_files']} data file(s), 1 landing file, 1 append")
        print(line)


def line_fit_total(per, n):
    """Least squares t_i = a + b*i through the measured per-append times, summed over
    0..n-1: the quadratic growth a linear extrapolation leaves out."""
    k = len(per)
    mx, my = (k - 1) / 2, sum(per) / k
    b = sum((i - mx) * (t - my) for i, t in enumerate(per)) / sum((i - mx) ** 2 for i in range(k))
    a = my - b * mx
    return n * a + b * n * (n - 1) / 2, a, b


def report_hour(h, args):
    n = h["samples"]
    print()
    print(f"### One hour of 1 s samples ({fmt_int(n)}), embedded: pcmetrics' batch sync against "
          f"the original design (one landing file + one table append per sample)")
    print()
    print("| pipeline | samples | appends = snapshots | table data files | landing files | table data bytes | landing bytes | metadata files | metadata bytes | CPU s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def row(name, samples, t, data, landing, meta, cpu, wall, mark=""):
        print(f"| {name} | {fmt_int(samples)} | {fmt_int(t)}{mark} | {fmt_int(data[0])}{mark} | "
              f"{fmt_int(landing[0])}{mark} | {fmt_int(data[1])}{mark} | {fmt_int(landing[1])}{mark} | "
              f"{fmt_int(meta[0])}{mark} | {fmt_int(meta[1])}{mark} | {fmt_s(cpu)}{mark} | {fmt_s(wall)}{mark} |")

    for key, name in (("pcmetrics_1", "pcmetrics, 1 sync"),
                      ("pcmetrics_12", "pcmetrics, 12 syncs (sync.interval 5m)")):
        if key in h:
            p = h[key]
            row(name, n, p["table"]["snapshots"], p["data"], p["landing"], p["metadata"],
                p["cpu_s"], p["wall_s"])
    per_sample = [("pcmetrics_per_sample", "pcmetrics, 1 sync per sample (sync.interval 1s)"),
                  ("python", "python, per collection")]
    notes = []
    for key, name in per_sample:
        if key not in h:
            continue
        r = h[key]
        k = r["appends"]
        scale = n / k
        row(name + (" (measured)" if k < n else ""), k, r["table"]["snapshots"], r["data"],
            r["landing"], r["metadata"], r["cpu_s"], r["wall_s"])
        if k < n:
            ex = lambda pair: (round(pair[0] * scale), round(pair[1] * scale))
            row(f"{name}, ×{scale:.2f} to {fmt_int(n)}", n, round(k * scale), ex(r["data"]),
                ex(r["landing"]), ex(r["metadata"]), r["cpu_s"] * scale, r["wall_s"] * scale, " *")
        note = (f"{name}: {k} of {fmt_int(n)} done in {r['wall_s']:.0f} s; mean time per sample "
                f"{r['first_ms']:.0f} ms over the first 10 %, {r['last_ms']:.0f} ms over the last 10 %")
        if k >= 10:
            fit, a, b = line_fit_total(r["per_append_s"], n)
            note += (f"; t_i ≈ {1000 * a:.0f} ms + {1000 * b:.3f} ms × i (i = snapshots already "
                     f"in the table)")
            if k < n:
                note += (f", which puts {fmt_int(n)} at ~{fit:.0f} s wall (~{fit * r['cpu_s'] / r['wall_s']:.0f} "
                         f"CPU s at the measured CPU/wall ratio) against {r['wall_s'] * scale:.0f} s linear")
            if b > 0 and a < 1:
                note += f"; one append takes longer than the 1 s sampling interval from i ≈ {(1 - a) / b:.0f}"
        notes.append(note + ".")
    print()
    for note in notes:
        print(f"- {note}")
    if any(h[key]["appends"] < n for key, _ in per_sample if key in h):
        print(f"- \\* extrapolated linearly from the measured appends (budget "
              f"{args.per_collection_budget:.0f} s each). Per-append cost grows with the table's "
              f"history (every commit writes a metadata JSON listing every earlier snapshot and a "
              f"manifest list of every earlier manifest), so the linear figures for time, CPU and "
              f"metadata bytes are a lower bound.")
    p, py = h["pcmetrics_1"], h["python"]
    scale = n / py["appends"]
    tot = lambda r, i: r["data"][i] + r["landing"][i] + r["metadata"][i]
    print(f"- Ratios for the hour, python per collection{' (linear extrapolation)' if scale > 1 else ''} "
          f"÷ pcmetrics 1 sync: CPU {py['cpu_s'] * scale / max(p['cpu_s'], 1e-9):.0f}×, wall "
          f"{py['wall_s'] * scale / p['wall_s']:.0f}×, files {tot(py, 0) * scale / tot(p, 0):.0f}×, "
          f"bytes {tot(py, 1) * scale / tot(p, 1):.0f}× (data + landing + metadata).")


def versions():
    out = subprocess.run([VENV_PY, "-c", "import sys; from importlib.metadata import version as v; "
                          "print(f\"pyiceberg {v('pyiceberg')}, pyarrow {v('pyarrow')}, "
                          "pyiceberg-core {v('pyiceberg-core')}, python {sys.version.split()[0]}\")"],
                         capture_output=True, text=True).stdout.strip()
    pcm = subprocess.run([PCMETRICS, "--version"], capture_output=True, text=True).stdout.strip()
    return f"{pcm}; {out}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="samples for the bulk syncs")
    ap.add_argument("--batch-rows", type=int, default=100_000, help="rows per batch / append")
    ap.add_argument("--only", default="embedded,memory,s3,hour",
                    help="comma list of: embedded, s3 (pcmetrics, and Python reading its "
                         "buffer, on that backend); memory (Python handed the same rows as "
                         "Python objects, on each backend that runs; alone: embedded); hour")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each bulk part, pcmetrics and Python in turn; medians are "
                         "reported")
    ap.add_argument("--hour-samples", type=int, default=3600)
    ap.add_argument("--per-collection-budget", type=float, default=600,
                    help="seconds the per-collection Python run may take before it stops and "
                         "the rest is extrapolated")
    ap.add_argument("--pcmetrics-per-sample", action="store_true",
                    help="hour: also run pcmetrics with one sync per sample (the original "
                         "design's shape with pcmetrics' writer), same budget")
    ap.add_argument("--zstd-level", type=int, default=3, help="Python's Parquet zstd level "
                    "(pcmetrics writes level 3)")
    ap.add_argument("--pcmetrics", metavar="BIN", type=Path,
                    help="the pcmetrics binary to time (default target/release/pcmetrics, "
                         "built if missing)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--json", metavar="FILE", help="also write the raw measurements to FILE")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not only <= {"embedded", "memory", "s3", "hour"}:
        ap.error("--only: use embedded, memory, s3, hour")
    if args.repeat < 1:
        ap.error("--repeat: at least 1")
    if args.pcmetrics:
        global PCMETRICS
        PCMETRICS = args.pcmetrics.resolve()

    ensure_venv()
    ensure_pcmetrics()
    work = Path(tempfile.mkdtemp(prefix="pcmetrics-bench-sync-"))
    log(f"work dir {work}")
    results, hour_result = [], None
    t0 = time.time()
    try:
        s3 = None
        if "s3" in only:
            stack("up")
            s3 = stack_env()
        try:
            for rep in range(args.repeat):
                if "embedded" in only or ("memory" in only and "s3" not in only):
                    results.append(bulk("embedded", work, args, only, rep))
                if s3:
                    results.append(bulk("s3", work, args, only, rep, s3=s3))
                if not args.keep:
                    for d in work.glob(f"*-{rep}"):
                        shutil.rmtree(d, ignore_errors=True)
        finally:
            if s3:
                stack("down")
        if "hour" in only:
            hour_result = hour(work, args)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{versions()}; {dt.date.today()}; total {time.time() - t0:.0f} s")
    if results:
        report_bulk(results, args)
    if hour_result:
        report_hour(hour_result, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"bulk": results, "hour": hour_result}, indent=1))
        log(f"raw results in {args.json}")


if __name__ == "__main__":
    main()
