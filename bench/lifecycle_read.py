#!/usr/bin/env python3
"""One PC's rows of the pcmetrics table, read with pyiceberg as a chart would (columns ts
and cpu_total_pct), timed from catalog load to the last row in memory. Used by
`cargo run --release -p pcmetrics-core --example lifecycle -- --pyiceberg PYTHON`.

    lifecycle_read.py --table bronze.pc_metrics --host HOST_ID
        (--sql CATALOG.db --warehouse file:///… | --rest http://127.0.0.1:38181)
        [--from-us N --to-us N]

S3 keys and endpoint come from the test stack's variables (PCMETRICS_TEST_S3_*).
Prints {"rows": N, "seconds": S}.
"""
import argparse
import json
import os
import time

from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--sql")
    p.add_argument("--warehouse")
    p.add_argument("--rest")
    p.add_argument("--from-us", type=int)
    p.add_argument("--to-us", type=int)
    a = p.parse_args()
    started = time.perf_counter()
    if a.sql:
        cat = SqlCatalog("pcmetrics", uri=f"sqlite:///{a.sql}", warehouse=a.warehouse)
    else:
        env = os.environ
        cat = RestCatalog(
            "pcmetrics",
            uri=a.rest,
            **{
                "s3.endpoint": env["PCMETRICS_TEST_S3_ENDPOINT"],
                "s3.region": env.get("PCMETRICS_TEST_S3_REGION", "us-east-1"),
                "s3.access-key-id": env["PCMETRICS_TEST_S3_KEY_ID"],
                "s3.secret-access-key": env["PCMETRICS_TEST_S3_SECRET"],
                "s3.path-style-access": "true",
            },
        )
    table = cat.load_table(a.table)
    row_filter = EqualTo("host_id", a.host)
    if a.from_us is not None:
        row_filter = And(
            row_filter,
            GreaterThanOrEqual("ts", a.from_us),
            LessThan("ts", a.to_us),
        )
    rows = table.scan(row_filter=row_filter, selected_fields=("ts", "cpu_total_pct")).to_arrow().num_rows
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
