"""Historical load of a multi-year daily-sales panel: bulk (``ingest_days``) vs day by day.

Writes a wide ``d_1..d_N`` panel (the wide_panel scenario's generator: intermittent daily
units, yearly season) of ``--items`` items over ``--years`` years, builds the mapping source's
cache once (timed on its own: the melt of the wide file), then in fresh DuckDB warehouses

* the baseline: ``ingest(Partition(day))`` for each of the last ``--baseline-days`` days
  (one DAG ingest per day: the walk the historical load did before, with today's per-day
  code, so the ratio is the gain of loading many days at once), and
* the bulk path: ``ingest_days`` over every day of the panel (``ecomflow backfill-ingest``).

Both are checked to reconcile (rows in = accepted + quarantined = the panel's cells).

    .venv/bin/python benchmarks/historical_load.py [--items 876] [--years 5] [--baseline-days 60]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _home(root: Path, name: str, shared_cache: Path | None = None) -> None:
    """A fresh ``ECOMFLOW_HOME``; with ``shared_cache``, its source cache is that one (the melted
    panel is built once: each home would otherwise rebuild it inside the first timed read)."""
    os.environ["ECOMFLOW_HOME"] = str(root / name)
    if shared_cache is not None:
        (root / name).mkdir(parents=True)
        (root / name / "source").symlink_to(shared_cache, target_is_directory=True)
    os.environ["ECOMFLOW_WAREHOUSE"] = "duckdb"
    from tasks import settings
    from tasks.warehouse import dispose_engine

    dispose_engine()
    settings.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=876)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--baseline-days", type=int, default=60)
    args = parser.parse_args()
    os.environ.setdefault("ECOMFLOW_PII_KEY", "benchmark-only-key")

    from tasks.ingest.load import ingest
    from tasks.ingest.load_days import ingest_days
    from tasks.ingest.sources import get_source
    from tasks.partitions import Partition
    from tasks.warehouse import read_frame
    from tests.scenarios import generators

    root = Path(tempfile.mkdtemp(prefix="ecomflow-bench-load-"))
    try:
        data = root / "data"
        data.mkdir()
        panel = generators.wide_panel(data, items=args.items, years=args.years)
        mapping = data / "wide_panel.yml"
        shutil.copy(REPO / "tests" / "scenarios" / "mappings" / "wide_panel.yml", mapping)
        os.environ["ECOMFLOW_SOURCE"] = str(mapping)
        cells = panel.shape[0] * (panel.shape[1] - 2)

        _home(root, "cache")
        start = time.perf_counter()
        first, last = get_source(str(mapping)).coverage("daily_sales")  # builds the source cache (melt)
        cache_s = time.perf_counter() - start
        n_days = (last.date() - first.date()).days + 1

        def loaded() -> tuple[int, int, int]:
            row = read_frame("SELECT SUM(rows_in) AS i, SUM(rows_accepted) AS a, SUM(rows_quarantined) AS q "
                             "FROM audit.load_log WHERE entity = 'daily_sales'").iloc[0]
            return int(row["i"]), int(row["a"]), int(row["q"])

        from tasks.settings import get_settings

        cache = get_settings().source_cache
        _home(root, "per_day", cache)
        days = [last.date() - timedelta(days=k) for k in range(args.baseline_days - 1, -1, -1)]
        start = time.perf_counter()
        for day in days:
            ingest(Partition(day), "bench_per_day")
        per_day_s = time.perf_counter() - start
        base_in, base_ok, base_bad = loaded()
        assert base_in == base_ok + base_bad == args.items * len(days), (base_in, base_ok, base_bad)

        _home(root, "bulk", cache)
        start = time.perf_counter()
        ingest_days(first.date(), last.date() + timedelta(days=1), "bench_bulk")
        bulk_s = time.perf_counter() - start
        bulk_in, bulk_ok, bulk_bad = loaded()
        assert bulk_in == bulk_ok + bulk_bad == cells, (bulk_in, bulk_ok, bulk_bad, cells)
        peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

        per_day_rate = base_in / per_day_s
        bulk_rate = bulk_in / bulk_s
        print(f"historical load: wide daily panel, {args.items} items x {n_days} days = {cells:,} rows "
              f"(source cache build / melt: {cache_s:.1f} s, once); DuckDB; peak RSS {peak_gib:.2f} GiB")
        print("| path | days | rows | wall s | s per day | rows/s | speed-up |")
        print("|---|---|---|---|---|---|---|")
        print(f"| day by day (`ingest` per partition, baseline) | {len(days)} | {base_in:,} | {per_day_s:.1f} | "
              f"{per_day_s / len(days):.3f} | {per_day_rate:,.0f} | 1.00x |")
        print(f"| bulk (`ingest_days`, `ecomflow backfill-ingest`) | {n_days} | {bulk_in:,} | {bulk_s:.1f} | "
              f"{bulk_s / n_days:.4f} | {bulk_rate:,.0f} | {bulk_rate / per_day_rate:.1f}x |")
        fresh_s = cache_s + bulk_s
        print(f"| `ecomflow backfill-ingest` on a fresh home (source cache build + bulk) | {n_days} | {bulk_in:,} | "
              f"{fresh_s:.1f} | {fresh_s / n_days:.4f} | {bulk_in / fresh_s:,.0f} | "
              f"{bulk_in / fresh_s / per_day_rate:.1f}x |")
        print(f"day by day over all {n_days} days, extrapolated: {per_day_s / len(days) * n_days:.0f} s; "
              f"target for the bulk load: <= 30 s -> {'met' if bulk_s <= 30 else 'NOT met'} ({bulk_s:.1f} s; "
              f"{fresh_s:.1f} s with the source cache built first)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
