"""A GX gate with Data Docs rendered once per gate vs once per checkpoint (same suites, same run).

The daily DAG's ``ingest.gx_raw`` runs one checkpoint per raw suite on the day's partition.
GX's ``UpdateDataDocsAction`` renders the validated run's page and the site's whole index after
every checkpoint; ``tasks.quality.gx_runner.one_data_docs_build`` renders them once when the
gate ends. This loads a synthetic lake's history (``ecomflow backfill-ingest``, or reuses
``--home``) and runs the raw gate of the last loaded day both ways, alternating, ``--repeats``
times each; the table gives the median seconds and the Data Docs index's validation-run count
(it grows with every gate, and with it the cost of each index render).

    .venv/bin/python benchmarks/gx_gate.py [--size S] [--repeats 3] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _gate(suites: list[str], day: object, once: bool) -> float:
    """Seconds for the raw gate of ``day``: the DAG's code path (once) or one render per suite."""
    from tasks.partitions import Partition
    from tasks.quality.gx_runner import run_suite
    from tasks.quality.pipeline_checks import partition_values, run_suites_for_partition

    partition = Partition(day)
    start = time.perf_counter()
    if once:
        run_suites_for_partition(suites, partition, "ingest", dag_id="bench_once")
    else:  # what every gate did before: run_suite per suite, each checkpoint rendering the site
        from tasks.applicability import suite_skip_reason

        for suite in suites:
            if suite_skip_reason(suite, partition.as_of):
                continue
            run_suite(suite, partition_values(suite, partition, "ingest"), run_name="bench_each dt=x")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", choices=("S", "M", "L"))
    parser.add_argument("--home", type=Path, default=None, help="reuse this ECOMFLOW_HOME")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ecomflow-bench-gx-"))
    os.environ["ECOMFLOW_HOME"] = str(home)
    os.environ["ECOMFLOW_SYNTHETIC_SIZE"] = args.size
    os.environ.setdefault("ECOMFLOW_PII_KEY", "benchmark-only-key")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from datetime import date, timedelta

    from tasks import pipeline_catalogue as catalogue
    from tasks.cli import backfill_ingest, plan
    from tasks.partitions import Partition

    daily = plan()["DAILY_PARTITION"]
    if not (home / "lake").exists():
        t0 = time.perf_counter()
        backfill_ingest(Partition.parse(daily))
        print(f"loaded the {args.size} history in {time.perf_counter() - t0:.1f} s")
    day = date.fromisoformat(daily) - timedelta(days=1)  # the last loaded day
    suites = catalogue.raw_suites("daily")
    seconds: dict[bool, list[float]] = {False: [], True: []}
    _gate(suites, day, True)  # warm-up: imports, the GX context's first files
    for _ in range(args.repeats):
        for once in (False, True):
            seconds[once].append(_gate(suites, day, once))
    runs = len(list((home / "gx").rglob("validations/**/*.html")))
    each, once = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"\nRaw GX gate ({len(suites)} suites) of {day}, synthetic {args.size}, median of {args.repeats}; "
          f"{runs} validation pages in the site at the end\n")
    print("| Data Docs rendered | gate (s) | vs per checkpoint |")
    print("|---|---:|---:|")
    print(f"| per checkpoint (GX's UpdateDataDocsAction, before) | {each:.2f} | 1.00x |")
    print(f"| once per gate (`one_data_docs_build`) | {once:.2f} | {once / each:.2f}x |")


if __name__ == "__main__":
    main()
