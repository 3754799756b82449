#!/usr/bin/env python3
"""The Python side of bench/sync.py, run with the venv's python (pyarrow + pyiceberg):
the pipeline pcmetrics replaces, timed from the inside. Not meant to be run by hand.

    sync_worker.py bulk|memory|per-collection|inspect   < spec.json   > result.json (last line)

bulk            the samples of a pcmetrics buffer, in batches of `batch_rows`: read from the
                buffer (sqlite3), build an Arrow table with the table's schema, write one
                landing Parquet file per UTC day, `table.append()`; one append per batch.
memory          the rows a pcmetrics table holds, loaded untimed into Python objects (one
                dict per sample, as a Python collector would hold them); timed: to column
                lists, Arrow table, one zstd landing Parquet file, one `table.append()` (SQL
                or REST catalog), unpartitioned or partitioned like the pcmetrics table.
per-collection  the original design: per sample one Arrow table, one landing Parquet file,
                one `table.append()` (stops at `budget_s`).
inspect         snapshots, files, rows and bytes of a table, from its metadata file.

The table schema and partition spec are loaded from the pcmetrics-created table, so both
tables are the same shape.
"""

import bisect
import gc
import json
import os
import resource
import sqlite3
import sys
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog.rest import RestCatalog
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from verify_table import detail as decode_detail  # noqa: E402  (the buffer's detail, BLOB or JSON)
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
from pyiceberg.table import StaticTable

DAY_US = 86_400_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
COLUMNS = ("seq, ts_us, cpu, load1, load5, load15, mem_total, mem_used, mem_available, "
           "swap_total, swap_used, disk_read, disk_write, net_rx, net_tx, procs, uptime, detail")


def cpu_s():
    """CPU seconds of this process, every thread (pyarrow's pools included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def server_ticks(pids):
    """CPU ticks of the S3 and REST servers (utime + stime), to see the load we put on them."""
    total = 0
    for pid in pids:
        try:
            text = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        f = text[text.rindex(")") + 2:].split()
        total += int(f[11]) + int(f[12])
    return total


def catalog(spec):
    if spec["kind"] == "sql":
        return SqlCatalog("bench", uri=spec["uri"], warehouse=spec["warehouse"])
    return RestCatalog("bench", uri=spec["uri"], **spec.get("props", {}))


def create_table(spec, partitioned=True):
    """The Python table: same schema and partition spec as the pcmetrics table (or no
    partitioning), Parquet zstd at the level pcmetrics uses, in its own catalog (or
    namespace)."""
    src = StaticTable.from_metadata(spec["source_metadata"], properties=spec.get("props", {}))
    cat = catalog(spec["catalog"])
    ns = spec["table"].rsplit(".", 1)[0]
    cat.create_namespace_if_not_exists(ns)
    cat.create_table(
        spec["table"], schema=src.schema(),
        partition_spec=src.spec() if partitioned else UNPARTITIONED_PARTITION_SPEC,
        properties={
            "write.parquet.compression-codec": "zstd",
            "write.parquet.compression-level": str(spec["zstd_level"]),
        },
    )
    return cat


def read_rows(db, lo, hi, limit):
    return db.execute(
        f"SELECT {COLUMNS} FROM samples WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?",
        (lo, hi, limit),
    ).fetchall()


def build(rows, host_id, hostname, buf_id, schema):
    """Buffer rows -> pyarrow Table with the Iceberg schema (as scripts/verify_table.py maps
    them: scalar columns as they are, `detail` decodes to [cores, disks, networks, temps])."""
    n = len(rows)
    (seq, ts, cpu, l1, l5, l15, mt, mu, ma, st, su, dr, dw, nr, nt, procs, up, detail) = zip(*rows)
    cores, disks, nets, temps = [], [], [], []
    for d in detail:
        c, dk, nw, tp = decode_detail(d)
        cores.append(c)
        disks.append([tuple(x) for x in dk])
        nets.append([tuple(x) for x in nw])
        temps.append([tuple(x) for x in tp])
    data = {
        "host_id": [host_id] * n, "hostname": [hostname] * n, "seq": seq, "ts": ts,
        "cpu_total_pct": cpu, "cpu_core_pct": cores, "load_1": l1, "load_5": l5, "load_15": l15,
        "mem_total_bytes": mt, "mem_used_bytes": mu, "mem_available_bytes": ma,
        "swap_total_bytes": st, "swap_used_bytes": su,
        "disk_read_bps": dr, "disk_write_bps": dw, "disks": disks,
        "net_rx_bps": nr, "net_tx_bps": nt, "networks": nets, "temperatures": temps,
        "process_count": procs, "uptime_s": up, "buffer_id": [buf_id] * n,
    }
    arrays = [pa.array(data[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema), ts


def day_slices(ts):
    """(date, offset, length) per UTC day; ts ascending (rows come in seq order)."""
    out = []
    for day in range(ts[0] // DAY_US, ts[-1] // DAY_US + 1):
        a = bisect.bisect_left(ts, day * DAY_US)
        b = bisect.bisect_left(ts, (day + 1) * DAY_US)
        if b > a:
            date = datetime.fromtimestamp(day * 86400, timezone.utc).strftime("%Y-%m-%d")
            out.append((date, a, b - a))
    return out


def write_landing(io, landing, host_id, name, table, level):
    path = f"{landing}/host_id={host_id}/{name}"
    with io.new_output(path).create(overwrite=True) as f:
        pq.write_table(table, f, compression="zstd", compression_level=level)


def table_stats(t):
    snaps = t.metadata.snapshots
    cur = t.current_snapshot()
    s = cur.summary if cur else None
    g = (lambda k: int(s.get(k) or 0)) if s else (lambda k: 0)
    return {
        "snapshots": len(snaps),
        "data_files": g("total-data-files"),
        "records": g("total-records"),
        "files_size": g("total-files-size"),
        "added_files_size": sum(int(x.summary.get("added-files-size") or 0) for x in snaps if x.summary),
        "location": t.location(),
        "metadata_location": t.metadata_location,
    }


def buffer_id(db):
    """The buffer's id (the table's `buffer_id` column), None in buffers older than it."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'buffer_id'").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def bulk(spec):
    cat = create_table(spec)
    db = sqlite3.connect(f"file:{spec['buffer']}?mode=ro", uri=True)
    host_id, hostname, level = spec["host_id"], spec["hostname"], spec["zstd_level"]
    buf_id = buffer_id(db)
    lo, hi, batch_rows = spec["seq_lo"], spec["seq_hi"], spec["batch_rows"]
    pids = spec.get("server_pids", [])
    phases = {"load": 0.0, "read": 0.0, "build": 0.0, "land": 0.0, "append": 0.0}
    landing_files = batches = rows_total = 0

    load1 = os.getloadavg()[0]
    srv0, cpu0, t0 = server_ticks(pids), cpu_s(), time.perf_counter()
    # ---- timed: what `pcmetrics sync` does after it has started and opened its buffer
    table = cat.load_table(spec["table"])
    schema = table.schema().as_arrow()
    t = time.perf_counter()
    phases["load"] = t - t0
    while lo <= hi:
        rows = read_rows(db, lo, hi, batch_rows)
        if not rows:
            break
        t1 = time.perf_counter()
        arrow, ts = build(rows, host_id, hostname, buf_id, schema)
        t2 = time.perf_counter()
        batches += 1
        for date, off, n in day_slices(ts):
            name = (f"date={date}/{host_id}-py-b{batches:08d}-s{rows[off][0]}-{rows[off + n - 1][0]}"
                    f"-{date}.parquet")
            write_landing(table.io, spec["landing"], host_id, name, arrow.slice(off, n), level)
            landing_files += 1
        t3 = time.perf_counter()
        table.append(arrow)
        t4 = time.perf_counter()
        phases["read"] += t1 - t
        phases["build"] += t2 - t1
        phases["land"] += t3 - t2
        phases["append"] += t4 - t3
        rows_total += len(rows)
        lo = rows[-1][0] + 1
        t = t4
    wall = time.perf_counter() - t0
    cpu = cpu_s() - cpu0
    srv = (server_ticks(pids) - srv0) / CLK_TCK
    # ---- end of timed section
    return {
        "rows": rows_total, "batches": batches, "wall_s": wall, "cpu_s": cpu, "load1": load1,
        "server_cpu_s": srv if pids else None, "phases": phases,
        "landing_files": landing_files, "table": table_stats(table),
    }


def load_samples(spec):
    """Untimed set-up of `memory`: every row of the pcmetrics table as one dict per sample
    (nested structs as dicts, lists as lists), in seq order; `ts` as int microseconds, as a
    collector keeps its clock (datetime objects would only make Python slower)."""
    src = StaticTable.from_metadata(spec["source_metadata"], properties=spec.get("props", {}))
    arrow = src.scan().to_arrow().sort_by("seq")
    i = arrow.schema.get_field_index("ts")
    arrow = arrow.set_column(i, "ts", arrow.column(i).cast(pa.int64()))
    samples = arrow.to_pylist()
    del arrow
    return samples


def memory(spec):
    """Python objects in memory -> committed snapshot: the boundary a Python pipeline that
    already holds its samples (a psutil collector) would have."""
    t = time.perf_counter()
    samples = load_samples(spec)
    load_s = time.perf_counter() - t
    cat = create_table(spec, partitioned=spec["partitioned"])
    gc.collect()
    level, host_id = spec["zstd_level"], samples[0]["host_id"]

    load1 = os.getloadavg()[0]
    cpu0, t0 = cpu_s(), time.perf_counter()
    # ---- timed: what `pcmetrics sync` does with rows, from Python objects
    table = cat.load_table(spec["table"])
    schema = table.schema().as_arrow()
    t1 = time.perf_counter()
    columns = [[s[name] for s in samples] for name in schema.names]
    t2 = time.perf_counter()
    arrow = pa.Table.from_arrays(
        [pa.array(c, type=f.type) for c, f in zip(columns, schema)], schema=schema)
    t3 = time.perf_counter()
    write_landing(table.io, spec["landing"], host_id, f"python-{len(samples)}.parquet", arrow, level)
    t4 = time.perf_counter()
    table.append(arrow)
    t5 = time.perf_counter()
    wall = t5 - t0
    cpu = cpu_s() - cpu0
    # ---- end of timed section
    phases = {"load": t1 - t0, "columns": t2 - t1, "build": t3 - t2, "land": t4 - t3,
              "append": t5 - t4}
    return {
        "rows": len(samples), "partitioned": spec["partitioned"], "wall_s": wall, "cpu_s": cpu,
        "load1": load1, "phases": phases, "setup_load_s": load_s,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "landing_files": 1, "table": table_stats(table),
    }


def per_collection(spec):
    cat = create_table(spec)
    db = sqlite3.connect(f"file:{spec['buffer']}?mode=ro", uri=True)
    host_id, hostname, level = spec["host_id"], spec["hostname"], spec["zstd_level"]
    buf_id = buffer_id(db)
    rows = read_rows(db, spec["seq_lo"], spec["seq_hi"], spec["seq_hi"] - spec["seq_lo"] + 1)
    table = cat.load_table(spec["table"])
    schema = table.schema().as_arrow()
    budget = spec["budget_s"]
    per = []

    cpu0, t0 = cpu_s(), time.perf_counter()
    # ---- timed: per collected sample, what the original design did with it
    for row in rows:
        s = time.perf_counter()
        arrow, ts = build([row], host_id, hostname, buf_id, schema)
        date = datetime.fromtimestamp(ts[0] / 1e6, timezone.utc).strftime("%Y-%m-%d")
        write_landing(table.io, spec["landing"], host_id,
                      f"date={date}/sample-{row[0]:08d}.parquet", arrow, level)
        table.append(arrow)
        e = time.perf_counter()
        per.append(e - s)
        if e - t0 > budget:
            break
    wall = time.perf_counter() - t0
    cpu = cpu_s() - cpu0
    # ---- end of timed section
    k = max(1, len(per) // 10)
    return {
        "appends": len(per), "planned": len(rows), "wall_s": wall, "cpu_s": cpu,
        "first_ms": 1000 * sum(per[:k]) / k, "last_ms": 1000 * sum(per[-k:]) / k,
        "per_append_s": per, "table": table_stats(table),
    }


def inspect(spec):
    t = StaticTable.from_metadata(spec["metadata"], properties=spec.get("props", {}))
    return {"table": table_stats(t)}


def main():
    mode = sys.argv[1]
    spec = json.load(sys.stdin)
    fn = {"bulk": bulk, "memory": memory, "per-collection": per_collection,
          "inspect": inspect}[mode]
    print(json.dumps(fn(spec)), flush=True)


if __name__ == "__main__":
    main()
