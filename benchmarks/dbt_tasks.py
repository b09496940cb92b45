"""Cost of dbt models as tasks: the daily `dbt` group's dbt work, one build vs one task per model.

Run: `.venv/bin/python benchmarks/dbt_tasks.py [--rounds 2] [--data sample|S]`.
Builds a raw layer in a temporary $ECOMFLOW_HOME (DuckDB): tests/dbt's SAMPLE_RAW (a few rows,
the default) or the synthetic S history up to the demo's first day (what `make run` builds),
then, in
interleaved rounds (so load from other processes hits both alike), times:

- `one build`: what the daily DAG ran before per-model tasks, one `dbt build` of staging,
  intermediate and marts (`--indirect-selection buildable`);
- `per-model tasks`: the daily DAG's own `dbt.*` model tasks (ecomflow_airflow.dbt_tasks),
  executed in the graph's build order with a run context, each its own `dbt build` forked by the
  warm dbt worker (tasks.transform.dbt_worker), which compiled every macro of the project once
  after parsing it;
- `per-model, macros per build`: the same tasks with ``ECOMFLOW_DBT_PRECOMPILE_MACROS=0``: each
  forked build compiles the Jinja macros it calls itself, as before the worker precompiled them.

`one build` runs as a dbt process of its own (tasks.transform.dbt_runner), so its difference to
the per-model rows is the per-model cost of dbt (selection, graph, its own run) on top of the
same SQL. Each per-model row starts with an untimed build that makes the worker parse the
project for that setting. Airflow's own per-task start-up (a task process, the DAG file parsed
again) comes on top of this in a real scheduler and is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "plugins"))
DAY = datetime(2026, 1, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data", choices=("sample", "S"), default="sample")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="ecomflow_bench_dbt_")
    os.environ.update(ECOMFLOW_HOME=home, ECOMFLOW_WAREHOUSE="duckdb", ECOMFLOW_PII_KEY=secrets.token_hex(16))

    import logging

    logging.basicConfig(level=logging.WARNING)  # dbt's streamed lines are INFO: keep the table readable
    from airflow.dag_processing.dagbag import DagBag

    from tasks.transform.dbt_graph import models_in
    from tasks.transform.dbt_runner import run_dbt
    from tasks.warehouse import dispose_engine
    from tests.dbt.conftest import load_sample_raw

    if args.data == "S":
        from datetime import date

        from tasks.cli import backfill_ingest
        from tasks.partitions import Partition

        backfill_ingest(Partition(date(2026, 1, 8)))  # as tests/dbt/test_serving_refresh.py
    else:
        load_sample_raw()
    dispose_engine()
    dag = DagBag(dag_folder=str(REPO / "dags" / "ecomflow_daily.py")).dags["ecomflow_daily"]
    nodes = models_in(["staging", "intermediate", "marts"])
    tasks = [dag.get_task(f"dbt.{n.layer}.{n.name}") for n in nodes]
    context = {"data_interval_start": DAY, "data_interval_end": datetime(2026, 1, 4), "logical_date": DAY}
    as_of = json.dumps({"as_of_date": "2026-01-04"})

    def one_build() -> None:
        run_dbt(["build", "--select", "staging", "intermediate", "marts", "--indirect-selection", "buildable",
                 "--exclude-resource-type", "unit_test", "--vars", as_of])

    from tasks.transform.dbt_runner import dbt_home
    from tasks.transform.dbt_worker import PRECOMPILE_FLAG, stop_worker

    def per_model(precompile: bool) -> float:
        os.environ[PRECOMPILE_FLAG] = "1" if precompile else "0"  # part of the worker's parse key
        tasks[0].execute(context)  # untimed: the worker parses the project for this setting
        started = time.perf_counter()
        for task in tasks:
            task.execute(context)
        return time.perf_counter() - started

    def timed(run) -> float:  # noqa: ANN001
        started = time.perf_counter()
        run()
        return time.perf_counter() - started

    one_build()  # warm-up: full parse for these vars, tables created
    variants = {"one build": lambda: timed(one_build), "per-model tasks": lambda: per_model(True),
                "per-model, macros per build": lambda: per_model(False)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            times[name].append(run())

    stop_worker(dbt_home())
    base = statistics.median(times["one build"])
    print(f"{len(tasks)} models in the dbt group; data {args.data}; {args.rounds} interleaved rounds; home {home}")
    print(f"{'variant':<30}{'median s':>10}{'per model s':>13}{'ratio':>8}   all rounds")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<30}{median:>10.1f}{median / len(tasks):>13.2f}{median / base:>8.2f}   "
              + ", ".join(f"{v:.1f}" for v in values))


if __name__ == "__main__":
    main()
