"""Small warehouse calls one by one vs inside ``tasks.warehouse.session()`` (DuckDB).

    PYTHONPATH=. .venv/bin/python benchmarks/warehouse_session.py [--calls 40] [--tables 40] [--repeats 3]

Why: with no other connection of the process open, every ``connect()`` makes DuckDB build its
database instance (registers every built-in function, loads the catalog) and drop it at the close.
A monitoring run or a task's applicability check makes dozens of small calls. The workload here is
what they do: per call, ``table_exists`` + ``read_frame`` of one row + a ``replace_partition`` of a
few rows, on a fresh warehouse holding ``--tables`` tables (a daily run's warehouse has ~40). Both
ways run in the same process, alternating, fastest repeat kept; the ratio is session / one by one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _workload(calls: int, tables: int) -> None:
    from tasks.warehouse import read_frame, replace_partition, table_exists

    for i in range(calls):
        table = f"raw.t{i % tables}"
        if table_exists(table):
            read_frame(f"SELECT * FROM {table} LIMIT 1")
        replace_partition(table, pd.DataFrame({"dt": [date(2026, 1, 1)] * 3, "v": [i, i + 1, i + 2]}),
                          {"dt": date(2026, 1, 1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="ecomflow-session-bench-")
    # a throwaway key for a throwaway warehouse (no literal: tests/security/test_no_secrets.py)
    os.environ.update(ECOMFLOW_HOME=home, ECOMFLOW_WAREHOUSE="duckdb", ECOMFLOW_PII_KEY=secrets.token_hex(16))
    from tasks.warehouse import replace_partition, session

    for t in range(args.tables):  # the catalog a connect loads
        replace_partition(f"raw.t{t}", pd.DataFrame({"dt": [date(2026, 1, 1)], "v": [0]}), {"dt": date(2026, 1, 1)})
    best = {"one by one": float("inf"), "session": float("inf")}
    for _ in range(args.repeats):
        for name in best:
            started = time.perf_counter()
            if name == "session":
                with session():
                    _workload(args.calls, args.tables)
            else:
                _workload(args.calls, args.tables)
            best[name] = min(best[name], time.perf_counter() - started)
    base = best["one by one"]
    print(f"| way | {args.calls} calls (s, best of {args.repeats}) | ms per call | vs one by one |")
    print("|---|---|---|---|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds:.2f} | {1000 * seconds / args.calls:.1f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
