"""Warehouse writes of prediction rows: the product's write path vs row-by-row INSERTs.

Builds a ``serving.recommendations``-shaped frame (``--rows`` rows: 100k users x top-10,
as_of_date, user_id, item_id, rank, score, strategy, model_version, run_id, scored_at) and, on
a fresh DuckDB file and a fresh PostgreSQL database (created here, dropped at the end), times

* ``write_serving`` (tasks/score/common.py: ``check_table`` types the frame once into an Arrow
  table in the contract's types, then ``replace_partition`` in one transaction with the
  serving-version row), the path every scorer writes through: DuckDB scans the Arrow table
  without a copy, PostgreSQL streams its CSV (rendered by Arrow) through ``COPY``. Run twice on
  the same partition: the first write (empty table) and the re-run that replaces it (DELETE of
  the partition's rows + insert), which is what an idempotent retry costs;
* ``replace_partition`` alone (tasks/warehouse/io.py), re-run on its partition, with the Arrow
  table ``check_table`` built (the warehouse layer without the typing) and with the same rows
  as a typed pandas frame (``check_frame``: Python ``str``/``date`` objects, what the write path
  inserted before it went through Arrow);
* the baseline, in the same run: plain ``INSERT ... VALUES (?, ...)`` through the driver's
  ``executemany`` (one statement per row), on the first ``--baseline-rows`` rows (row inserts
  of a million rows would take many minutes), in one transaction.

Throughput is rows/s; the ratio is product rows/s over baseline rows/s. A last line times the
CSV rendering of the PostgreSQL path: Arrow (what ``_insert`` uses) vs pandas ``to_csv``.

    .venv/bin/python benchmarks/warehouse_writes.py [--rows 1000000] [--baseline-rows 20000] [--only duckdb|postgres]
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TABLE = "serving.recommendations"
AS_OF = date(2026, 1, 15)


def prediction_frame(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Top-10 lists of ``n_rows // 10`` users over a 5k-item catalogue, as a scorer hands them
    to ``write_serving`` (text ids, int ranks, float scores, run metadata)."""
    rng = np.random.default_rng(seed)
    k = 10
    n_users = -(-n_rows // k)
    users = np.repeat(np.array([f"u{i:07d}" for i in range(n_users)], dtype=object), k)[:n_rows]
    items = np.array([f"p{i:05d}" for i in range(5000)], dtype=object)[rng.integers(0, 5000, n_rows)]
    rank = np.tile(np.arange(1, k + 1), n_users)[:n_rows]
    return pd.DataFrame({
        "user_id": users, "item_id": items, "rank": rank.astype("int64"),
        "score": np.sort(rng.random(n_rows))[::-1].copy(), "strategy": "model",
        "as_of_date": AS_OF, "model_version": "recommender-v1", "run_id": "bench-run",
        "scored_at": datetime(2026, 1, 16),
    })


_CPU: dict[str, float] = {}  # CPU seconds (this process, all threads) of the last _timed call


def _timed(fn: Callable[[], object]) -> float:
    """Wall seconds of ``fn()``; its CPU seconds go to ``_CPU["last"]``: on the shared 2 cores the
    wall time follows the machine's load, the CPU time much less (PostgreSQL's server side is
    not in it)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    _CPU["last"] = time.process_time() - cpu
    return time.perf_counter() - start


def product_write(frame: pd.DataFrame) -> float:
    from tasks.score.common import write_serving

    return _timed(lambda: write_serving(TABLE, frame, {"as_of_date": AS_OF},
                                        model_version="recommender-v1", run_id="bench-run"))


def partition_write(frame: pd.DataFrame | pa.Table, table: str) -> float:
    """``replace_partition`` alone on rows already in contract types (an Arrow table, what
    ``write_serving`` hands it, or a pandas frame), into its own table: the warehouse layer
    without the typing."""
    from tasks.score.common import SERVING_SCHEMAS
    from tasks.warehouse import replace_partition

    return _timed(lambda: replace_partition(table, frame, {"as_of_date": AS_OF},
                                            column_types=SERVING_SCHEMAS[TABLE]))


def baseline_inserts(frame: pd.DataFrame) -> float:
    """One parameterised INSERT per row (driver ``executemany``), one transaction, into a
    table of the same columns and types; the statement is the same for both warehouses."""
    from tasks.score.common import SERVING_SCHEMAS
    from tasks.warehouse import connect

    schema = SERVING_SCHEMAS[TABLE]
    cols = list(schema)
    rows = [tuple(r) for r in frame[cols].itertuples(index=False, name=None)]
    rows = [tuple(v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in r) for r in rows]
    with connect() as conn:
        raw = conn.connection.driver_connection
        cursor = raw.cursor()
        cursor.execute("CREATE SCHEMA IF NOT EXISTS bench")
        cursor.execute("DROP TABLE IF EXISTS bench.row_inserts")
        cursor.execute("CREATE TABLE bench.row_inserts (" + ", ".join(f"{c} {t}" for c, t in schema.items()) + ")")
        marker = "?" if conn.dialect.name == "duckdb" else "%s"
        sql = f"INSERT INTO bench.row_inserts ({', '.join(cols)}) VALUES ({', '.join([marker] * len(cols))})"
        start = time.perf_counter()
        cursor.executemany(sql, rows)
        elapsed = time.perf_counter() - start
        cursor.close()
    return elapsed


def count_rows() -> tuple[int, int]:
    from tasks.warehouse import read_frame

    product = int(read_frame(f"SELECT count(*) AS n FROM {TABLE} WHERE as_of_date = :d", {"d": AS_OF})["n"][0])
    baseline = int(read_frame("SELECT count(*) AS n FROM bench.row_inserts")["n"][0])
    return product, baseline


def _use(warehouse: str, home: Path, pg_db: str | None = None) -> None:
    from tasks import settings
    from tasks.warehouse import dispose_engine

    dispose_engine()
    os.environ["ECOMFLOW_HOME"] = str(home)
    os.environ["ECOMFLOW_WAREHOUSE"] = warehouse
    if pg_db:
        os.environ["ECOMFLOW_PG_DB"] = pg_db
    settings.reset()


def _pg_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=os.environ.get("ECOMFLOW_PG_HOST", "127.0.0.1"),
                            port=int(os.environ.get("ECOMFLOW_PG_PORT", "5432")),
                            user=os.environ.get("ECOMFLOW_PG_USER", "postgres"), dbname="postgres")
    conn.autocommit = True
    try:
        conn.cursor().execute(sql)
    finally:
        conn.close()


def run_one(warehouse: str, frame: pd.DataFrame, base_frame: pd.DataFrame) -> dict[str, float]:
    from tasks.score.schema import check_frame, check_table

    first = product_write(frame)
    first_cpu = _CPU["last"]
    rerun = product_write(frame)
    typing = _timed(lambda: check_table(TABLE, frame))
    layers = {}
    for name, typed in (("layer", check_table(TABLE, frame)), ("layer_pandas", check_frame(TABLE, frame))):
        partition_write(typed, f"bench.{name}")
        layers[name] = partition_write(typed, f"bench.{name}")  # the re-run: same state as ``rerun``
    base = baseline_inserts(base_frame)
    product_rows, baseline_rows = count_rows()
    if (product_rows, baseline_rows) != (len(frame), len(base_frame)):
        raise SystemExit(f"{warehouse}: wrote {product_rows}/{baseline_rows} rows, expected "
                         f"{len(frame)}/{len(base_frame)}")
    return {"first": first, "first_cpu": first_cpu, "rerun": rerun, "typing": typing, **layers,
            "baseline": base}


def csv_render_seconds(frame: pd.DataFrame) -> tuple[float, float]:
    """(Arrow, pandas) seconds to render ``frame`` as CSV for PostgreSQL's COPY: the product's
    renderer (``tasks.warehouse.io._arrow_csv``) and pandas ``to_csv``, which it used before."""
    from tasks.warehouse.io import _arrow_csv

    arrow = statistics.median(_timed(lambda: _arrow_csv(frame)) for _ in range(2))
    pandas = _timed(lambda: frame.to_csv(io.StringIO(), index=False, header=False, na_rep="~N~"))
    return arrow, pandas


def measure_all(only: str | None, frame: pd.DataFrame, base_frame: pd.DataFrame,
                root: Path) -> dict[str, dict[str, float]]:
    """Both warehouses' timings (a fresh DuckDB file under ``root``, a fresh PostgreSQL database)."""
    results: dict[str, dict[str, float]] = {}
    if only in (None, "duckdb"):
        _use("duckdb", root / "duckdb")
        results["DuckDB"] = run_one("duckdb", frame, base_frame)
    if only in (None, "postgres"):
        db = f"ecomflow_bench_{secrets.token_hex(4)}"
        _pg_admin(f'CREATE DATABASE "{db}"')
        try:
            _use("postgres", root / "postgres", db)
            results["PostgreSQL (COPY)"] = run_one("postgres", frame, base_frame)
        finally:
            from tasks.warehouse import dispose_engine

            dispose_engine()
            _pg_admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--only", choices=("duckdb", "postgres"), default=None)
    args = parser.parse_args()

    frame = prediction_frame(args.rows)
    base_frame = frame.iloc[:args.baseline_rows].reset_index(drop=True)
    root = Path(tempfile.mkdtemp(prefix="warehouse_writes_"))
    try:
        results = measure_all(args.only, frame, base_frame, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\nwrites of a {TABLE}-shaped frame: {len(frame):,} rows (product), {len(base_frame):,} rows "
          f"(baseline: row INSERTs via executemany); cores={os.cpu_count()} load={os.getloadavg()[0]:.1f}\n")
    print("| warehouse | product first write | product re-run (replace) | check_table (typing) "
          "| replace_partition alone, re-run: Arrow table | same, typed pandas frame | row INSERTs "
          "| ratio (first / rows) |")
    print("|---|---|---|---|---|---|---|---|")
    n = len(frame)
    for name, r in results.items():
        first, base = n / r["first"], len(base_frame) / r["baseline"]
        cells = [f"{n / r[k]:,.0f} rows/s ({r[k]:.2f} s)" for k in ("first", "rerun", "typing", "layer", "layer_pandas")]
        cells[0] = cells[0][:-1] + f", CPU {r['first_cpu']:.2f} s)"
        print(f"| {name} | {' | '.join(cells)} | {base:,.0f} rows/s ({r['baseline']:.2f} s) | {first / base:,.0f}x |")
    if "PostgreSQL (COPY)" in results:
        arrow_s, pandas_s = csv_render_seconds(frame)
        r = results["PostgreSQL (COPY)"]
        print(f"\nPostgreSQL first write {r['first']:.2f} s; rendering the frame as CSV for COPY: "
              f"{arrow_s:.2f} s with Arrow (the product's path) vs {pandas_s:.2f} s with pandas to_csv "
              "(the path before, which took ~60 % of the write).")
    print("\ntargets (issue 15): >= 1,000,000 rows/s DuckDB, >= 200,000 rows/s PostgreSQL")


if __name__ == "__main__":
    main()
