#!/usr/bin/env python3
"""Independent check of a pcmetrics table: opens the Iceberg table from its metadata file
with pyiceberg (no pcmetrics code involved), reads every row, and compares it value by
value with the samples in the pcmetrics SQLite buffer.

    verify_table.py --data-dir DIR --metadata LOCATION [--expect N]

An s3:// location is read with the endpoint and keys of the test stack
(PCMETRICS_TEST_S3_ENDPOINT, _REGION, _KEY_ID, _SECRET; see scripts/test-stack env).

Exit status 0 when every buffered sample of this host is in the table exactly once with
equal values (and, with --expect, there are exactly N of them).
"""
import argparse
import json
import os
import sqlite3
import struct
import sys
from collections import Counter
from pathlib import Path

from pyiceberg.table import StaticTable


def f32(x):
    """The float32 nearest to x, as a Python float (the buffer's JSON layout keeps float32
    values in their shortest decimal form; for the BLOB layout this is the identity)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def detail_blob(b):
    """The BLOB layout of `detail` (tag 1; see crates/pcmetrics-core/src/buffer/codec.rs):
    [cores, disks, networks, temps] as the JSON layout has them, floats widened to double."""
    pos = 1
    if b[0] != 1:
        raise ValueError(f"detail: unknown layout tag {b[0]}")

    def uint():
        nonlocal pos
        x = shift = 0
        while True:
            byte = b[pos]
            pos += 1
            x |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return x

    def text():
        nonlocal pos
        n = uint()
        pos += n
        return b[pos - n:pos].decode("utf-8")

    def num(fmt):
        nonlocal pos
        (x,) = struct.unpack_from(fmt, b, pos)
        pos += struct.calcsize(fmt)
        return x

    cores = [num("<f") for _ in range(uint())]
    disks = [[text(), text(), text(), uint(), uint(), num("<d"), num("<d")] for _ in range(uint())]
    nets = [[text(), num("<d"), num("<d"), uint(), uint()] for _ in range(uint())]
    temps = [[text(), num("<f")] for _ in range(uint())]
    if pos != len(b):
        raise ValueError(f"detail: {len(b) - pos} bytes after the end")
    return cores, disks, nets, temps


def detail(value):
    """`detail` of a buffer row: a BLOB, or JSON text in buffers written before the BLOB."""
    return detail_blob(value) if isinstance(value, bytes) else json.loads(value)


def buffered(data_dir):
    db = sqlite3.connect(f"file:{Path(data_dir) / 'buffer.db'}?mode=ro", uri=True)
    rows = {}
    for r in db.execute(
        "SELECT seq, ts_us, cpu, load1, load5, load15, mem_total, mem_used, mem_available, "
        "swap_total, swap_used, disk_read, disk_write, net_rx, net_tx, procs, uptime, detail "
        "FROM samples"
    ):
        cores, disks, nets, temps = detail(r[17])
        rows[r[0]] = {
            "ts": r[1], "cpu_total_pct": r[2], "load_1": r[3], "load_5": r[4], "load_15": r[5],
            "mem_total_bytes": r[6], "mem_used_bytes": r[7], "mem_available_bytes": r[8],
            "swap_total_bytes": r[9], "swap_used_bytes": r[10],
            "disk_read_bps": r[11], "disk_write_bps": r[12], "net_rx_bps": r[13], "net_tx_bps": r[14],
            "process_count": r[15], "uptime_s": r[16],
            "cpu_core_pct": [f32(c) for c in cores],
            "disks": [dict(zip(["mount", "device", "fs", "total_bytes", "available_bytes", "read_bps", "write_bps"], d)) for d in disks],
            "networks": [dict(zip(["name", "rx_bps", "tx_bps", "rx_bytes_total", "tx_bytes_total"], n)) for n in nets],
            "temperatures": [{"label": t[0], "celsius": f32(t[1])} for t in temps],
        }
    return rows


def same(a, b):
    # Exact, floats included: float32 columns come back as the float32 value widened to a
    # double, which is also what the buffer stores.
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--metadata", required=True)
    ap.add_argument("--expect", type=int)
    args = ap.parse_args()

    host_id = (Path(args.data_dir) / "host-id").read_text().strip()
    want = buffered(args.data_dir)
    props = {}
    if args.metadata.startswith("s3://"):
        env = os.environ
        props = {
            "s3.endpoint": env["PCMETRICS_TEST_S3_ENDPOINT"],
            "s3.region": env.get("PCMETRICS_TEST_S3_REGION", "us-east-1"),
            "s3.access-key-id": env["PCMETRICS_TEST_S3_KEY_ID"],
            "s3.secret-access-key": env["PCMETRICS_TEST_S3_SECRET"],
            "s3.force-virtual-addressing": "false",
        }
    table = StaticTable.from_metadata(args.metadata, properties=props)
    got = table.scan().to_arrow().to_pylist()
    # The row identity: (host_id, buffer_id, seq) is unique over the whole table, and every
    # row this version wrote says which buffer it came from.
    if "buffer_id" not in table.schema().column_names:
        print("the table has no buffer_id column", file=sys.stderr)
        sys.exit(1)
    identities = Counter((r["host_id"], r["buffer_id"], r["seq"]) for r in got)
    dup_ids = sum(c - 1 for c in identities.values() if c > 1)
    mine = [r for r in got if r["host_id"] == host_id]
    unlabelled = sum(1 for r in mine if r["buffer_id"] is None)
    counts = Counter(r["seq"] for r in mine)
    dup = sum(c - 1 for c in counts.values() if c > 1)
    missing = sorted(set(want) - set(counts))
    extra = sorted(set(counts) - set(want))
    diff = 0
    for r in mine:
        w = want.get(r["seq"])
        if w is None:
            continue
        r = dict(r)
        r["ts"] = int(r["ts"].timestamp() * 1_000_000) if not isinstance(r["ts"], int) else r["ts"]
        for k, v in w.items():
            if not same(r[k], v):
                if diff < 5:
                    print(f"seq {r['seq']}: {k}: table {r[k]!r} != buffer {v!r}", file=sys.stderr)
                diff += 1
    print(
        f"pyiceberg {table.metadata.format_version and 'v' + str(table.metadata.format_version)}: "
        f"{len(got)} rows in the table, {len(mine)} of host {host_id}; buffer {len(want)}; "
        f"missing {len(missing)}, duplicated {dup}, unexpected {len(extra)}, values differing {diff}; "
        f"(host_id, buffer_id, seq) repeated {dup_ids}, rows of this host without buffer_id {unlabelled}"
    )
    ok = not missing and not dup and not extra and not diff and not dup_ids and not unlabelled
    if args.expect is not None and len(mine) != args.expect:
        print(f"expected {args.expect} rows of this host, found {len(mine)}", file=sys.stderr)
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
