"""A GX gate with Data Docs rendered once per gate vs once per checkpoint (same suites, same run).

The daily DAG's ``ingest.gx_raw`` runs one checkpoint per raw suite on the day's partition.
GX's ``UpdateDataDocsAction`` renders the validated run's page and the site's whole index after
every checkpoint; ``tasks.quality.gx_runner.one_data_docs_build`` renders them once when the
gate ends. This loads a synthetic lake's history (``ecomflow backfill-ingest``, or reuses
``--home``) and runs the raw gate of the last loaded day both ways, alternating, ``--repeats``
times each; the table gives the median seconds and the Data Docs index's validation-run count
(it grows with every gate, and with it the cost of each index render).

Then the cost of one gate against the length of the project's validation history: GX's Data
Docs index reads every validation result kept, so a gate got slower with every run; the index is
now bounded to the newest ``DOCS_INDEX_RUNS`` (tasks/quality/gx_runner.py). ``--history`` plants
that many older validation results (copies of this run's, renamed to older runs) and times the
gate with the bound (the store archives all but the newest, the index lists as many) and without
it (``DOCS_INDEX_RUNS = 0``: GX's unlimited store and index), alternating.

    .venv/bin/python benchmarks/gx_gate.py [--size S] [--repeats 3] [--home DIR] [--history 0,1000,4000]
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


def _plant_history(validations: Path, total: int) -> int:
    """Copy the newest validation results under older run names until ``total`` are planted."""
    import json

    planted = sorted(validations.glob("*/history */*/*.json"))
    if len(planted) >= total:
        return len(planted)
    planted_names = {p.parts[-3] for p in planted}
    sources = sorted(p for p in validations.glob("*/*/*/*.json") if "/history " not in p.as_posix())[-20:]
    for i in range(total):
        if f"history dt=day{i:06d}" in planted_names:
            continue
        source = sources[i % len(sources)]
        run_name, run_time = f"history dt=day{i:06d}", f"2020{(i // 86400) % 12 + 1:02d}01T{i % 86400 // 3600:02d}{i % 3600 // 60:02d}{i % 60:02d}.000000Z"
        target = validations / source.parts[-4] / run_name / run_time / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        result = json.loads(source.read_text())
        result.setdefault("meta", {})["run_id"] = {"run_name": run_name, "run_time": "2020-01-01T00:00:00+00:00"}
        target.write_text(json.dumps(result))
    return total


def history_table(suites: list[str], day: object, home: Path, sizes: list[int], repeats: int) -> None:
    """Gate seconds with the index bounded vs unbounded, per planted history length."""
    from tasks.quality import gx_runner

    bound = gx_runner.DOCS_INDEX_RUNS
    validations = next((home / "gx").rglob("uncommitted/validations"))
    rows = []
    for size in sizes:
        seconds: dict[int, list[float]] = {bound: [], 0: []}
        for _ in range(repeats):
            for limit in (0, bound):
                _plant_history(validations, size)  # again: a bounded gate archived them
                gx_runner.DOCS_INDEX_RUNS = limit  # written into the site's config by the next gate
                _gate(suites, day, True)  # saves the config change (and, bounded, archives the surplus)
                seconds[limit].append(_gate(suites, day, True))
        rows.append((size, statistics.median(seconds[0]), statistics.median(seconds[bound])))
    gx_runner.DOCS_INDEX_RUNS = bound
    print(f"\nRaw GX gate vs validation history kept (planted older results), median of {repeats}\n")
    print(f"| older results planted | unbounded (s) | vs first row | store and index bounded to {bound} (s) | vs first row |")
    print("|---:|---:|---:|---:|---:|")
    for kept, unbounded, bounded in rows:
        print(f"| {kept} | {unbounded:.2f} | {unbounded / rows[0][1]:.2f}x | {bounded:.2f} | {bounded / rows[0][2]:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", choices=("S", "M", "L"))
    parser.add_argument("--home", type=Path, default=None, help="reuse this ECOMFLOW_HOME")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--history", default="0,1000,4000",
                        help="validation results to plant, comma-separated (first: the baseline; '' to skip)")
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
    if args.history:
        history_table(suites, day, home, [int(n) for n in args.history.split(",")], max(1, args.repeats - 1))


if __name__ == "__main__":
    main()
