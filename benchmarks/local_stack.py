"""The local Airflow stack's own overhead: one daily + one hourly DAG run with Airflow's defaults vs ecomflow's settings.

Run: `.venv/bin/python benchmarks/local_stack.py [--rounds 1] [--scenario clickstream|synthetic] [--configs ...]`.

Each run is `make run`'s pipeline (scripts/run_pipeline.sh: historical load, the local services,
the daily DAG and one hour of the hourly DAG as Airflow backfills) on a small issue-14 scenario
(tests/scenarios: a clickstream of ~650 events, most models skip) in a fresh temp
``$ECOMFLOW_HOME``, so the time is almost all per-task overhead, not data (``--scenario synthetic``:
the embedded S shop, where every model trains and scores). Configurations (``--configs``; the first
and last by default), interleaved per round so load from other processes hits all alike:

- ``airflow defaults``: ``[workers] min_heartbeat_interval`` 5 s (Airflow's default) and no Spark
  Connect warm-up (``ECOMFLOW_SPARK_WARM_UP=0``);
- ``polling DuckDB's lock``: ecomflow's settings, but tasks and dbt take turns on the DuckDB file
  by polling DuckDB's own lock (sleeping 1 s, dbt 2 s, per collision) instead of waiting on the
  writer lock beside it (``ECOMFLOW_WAREHOUSE_WRITER_LOCK=0``, tasks/warehouse/engine.py);
- ``Airflow's LocalExecutor``: ecomflow's settings, but Airflow's own LocalExecutor instead of
  ``ecomflow_airflow.executor.LocalExecutor`` (whose heartbeat waits for a running task's result,
  so the scheduler does not re-read the DAG run five times a second while tasks run);
- ``no dbt prepare``: ecomflow's settings, but the run's first dbt model task starts the warm dbt
  worker and parses the project (``ECOMFLOW_DBT_PREPARE=0``) instead of the ingest task asking
  the worker for it ahead;
- ``scheduler's backfill timer``: ecomflow's settings, but a DAG's next backfill waits until the
  scheduler's 30 s timer marks the last one complete (``ECOMFLOW_BACKFILL_COMPLETION=0``) instead of
  marking it itself (tasks/orchestration/backfill_completion.py);
- ``ecomflow``: what tasks/orchestration/local_airflow.py sets: 1 s, the warm-up job, the writer
  lock, the executor, the dbt worker prepared by the ingest task, finished backfills marked complete.

Columns: the DAG runs' wall times as run_pipeline.sh reports them, ``features.compute``'s
duration, the tasks whose process was still held >= 4 s after its last log line (the task
supervisor's wait that min_heartbeat_interval bounds; read from the scheduler's log), the CPU
seconds of the scheduler process itself (its loop, not its forked workers) and of the whole
machine while the pipeline ran (busy core-seconds from /proc/stat: what the run costs when the
cores are shared, as in the test suite), and the wall time of one more backfill of the hourly DAG
(the hour before) started right after the pipeline, on the same stack (every run's, since the
scheduler timer's phase differs from run to run).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.cpu_by_process import HZ, machine_ticks, process_ticks  # noqa: E402

CONFIGS = {
    "airflow defaults": {"AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "5", "ECOMFLOW_SPARK_WARM_UP": "0"},
    # Tasks and dbt take turns on the DuckDB file by polling DuckDB's own lock (1 s / 2 s sleeps)
    # instead of the writer lock beside it (tasks/warehouse/engine.py::duckdb_writer_lock).
    "polling DuckDB's lock": {"ECOMFLOW_WAREHOUSE_WRITER_LOCK": "0"},
    # The next backfill of a DAG waits for the scheduler's 30 s timer to mark the last one complete
    # (tasks/orchestration/backfill_completion.py) instead of marking it itself.
    "scheduler's backfill timer": {"ECOMFLOW_BACKFILL_COMPLETION": "0"},
    # Airflow's executor: the scheduler loops every scheduler_idle_sleep_time (0.2 s) while tasks run.
    "Airflow's LocalExecutor": {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor"},
    # The first dbt model task starts the warm dbt worker and parses the project itself, instead of
    # the ingest task asking for it ahead (tasks/transform/dbt_worker.py::prepare).
    "no dbt prepare": {"ECOMFLOW_DBT_PREPARE": "0"},
    "ecomflow": {},
}


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _held_tasks(scheduler_log: Path) -> int:
    """Tasks whose supervisor reported the workload finished >= 4 s after the task's last line."""
    last: dict[str, datetime] = {}
    held = 0
    for line in scheduler_log.read_text(errors="replace").splitlines():
        try:
            at = datetime.fromisoformat(line[:26].replace("T", " ").rstrip("Z"))
        except ValueError:
            continue
        if "Workload finished" in line and (found := re.search(r"workload_id=(\S+)", line)):
            if found.group(1) in last and (at - last[found.group(1)]).total_seconds() >= 4:
                held += 1
        elif (ti := re.search(r"ti_id=(\S+)", line)) and ("[task]" in line or "tasks." in line):
            last[ti.group(1)] = at
    return held


def _compute_seconds(airflow_db: Path) -> float:
    with sqlite3.connect(airflow_db) as conn:
        row = conn.execute("SELECT duration FROM task_instance WHERE dag_id = 'ecomflow_daily' "
                           "AND task_id = 'features.compute' ORDER BY start_date DESC LIMIT 1").fetchone()
    return float(row[0]) if row and row[0] is not None else float("nan")


def _busy_core_seconds() -> float:
    return machine_ticks()[0] / HZ


def _process_cpu_seconds(pid: int | None) -> float:
    found = process_ticks(pid) if pid else None
    return found[0] / HZ if found else float("nan")


def _next_backfill_seconds(pipeline_out: str, env: dict[str, str]) -> float:
    """Wall seconds of ``ecomflow airflow backfill`` for the hour before the pipeline's hourly run,
    started right after it: a second backfill of the same DAG on the same stack (the next scenario
    of the tests, a user's next partition), which Airflow refuses until the last one is complete."""
    hour = re.search(r"== ecomflow_hourly for (\S+)", pipeline_out)
    if not hour:
        return float("nan")
    previous = (datetime.fromisoformat(hour.group(1)) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    proc = subprocess.run(["bash", "-c", f"source scripts/env.sh && ecomflow airflow backfill ecomflow_hourly {previous}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the next backfill failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.monotonic() - started


def run_once(config: str, scenario: str, folder: Path) -> dict[str, float]:
    from tasks.orchestration.local_airflow import LocalAirflow
    from tests.scenarios import generators

    mappings = REPO / "tests" / "scenarios" / "mappings"

    if scenario == "synthetic":  # the embedded S shop: every model trains and scores
        source = "synthetic"
    else:
        data = folder / "data"
        data.mkdir(parents=True)
        mapping = data / f"{scenario}.yml"
        shutil.copy(mappings / f"{scenario}.yml", mapping)
        getattr(generators, scenario)(data)
        source = str(mapping)
    home = folder / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECOMFLOW_", "AIRFLOW"))}
    env.update({"ECOMFLOW_HOME": str(home), "ECOMFLOW_WAREHOUSE": "duckdb", "ECOMFLOW_SOURCE": source, "ECOMFLOW_SYNTHETIC_SIZE": "S",
                "ECOMFLOW_PII_KEY": "benchmark-only-dummy-key", "ECOMFLOW_SPARK_MASTER": "local[2]",
                "AIRFLOW_HOME": str(home / "airflow"), "ECOMFLOW_DEMO_HOURS": "1",
                "ECOMFLOW_AIRFLOW_PORT": _free_port(), "ECOMFLOW_SPARK_CONNECT_PORT": _free_port(),
                **CONFIGS[config]})
    started, busy = time.monotonic(), _busy_core_seconds()
    try:
        proc = subprocess.run(["bash", "scripts/run_pipeline.sh"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=1200)
        wall, busy = time.monotonic() - started, _busy_core_seconds() - busy
        scheduler_cpu = _process_cpu_seconds(LocalAirflow(home / "airflow").pid("scheduler"))
        out = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise SystemExit(f"{config}: run_pipeline.sh failed:\n{out[-3000:]}")
        daily = re.search(r"ecomflow_daily \S+: success in (\d+) s", out)
        hourly = re.search(r"ecomflow_hourly \S+: success in (\d+) s", out)
        next_backfill = _next_backfill_seconds(out, env)
        services = home / "airflow" / "services"
        return {"daily_s": float(daily.group(1)) if daily else float("nan"),
                "hourly_s": float(hourly.group(1)) if hourly else float("nan"),
                "compute_s": _compute_seconds(home / "airflow" / "airflow.db"),
                "held": float(_held_tasks(services / "scheduler.log")), "wall_s": wall,
                "scheduler_cpu_s": scheduler_cpu, "busy_core_s": busy, "next_backfill_s": next_backfill}
    finally:
        LocalAirflow(home / "airflow").stop()
        from tasks.transform.dbt_worker import stop_worker

        stop_worker(home / "dbt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--scenario", default="clickstream", choices=["clickstream", "card_transactions", "synthetic"])
    # `make bench` runs the default pair; the writer lock's row: --configs "polling DuckDB's lock" ecomflow
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=["airflow defaults", "ecomflow"],
                        help="the first one is the baseline of the ratio column (default: airflow defaults, ecomflow)")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {name: [] for name in args.configs}
    for round_no in range(args.rounds):
        for name in args.configs:
            with tempfile.TemporaryDirectory(prefix="ecomflow-bench-stack-") as folder:
                results[name].append(run_once(name, args.scenario, Path(folder)))
                print(f"round {round_no + 1} {name}: {results[name][-1]}", flush=True)
    base = min(r["daily_s"] for r in results[args.configs[0]])
    print(f"\n{args.scenario} scenario, best of {args.rounds} round(s) (load {os.getloadavg()[0]:.1f})")
    print("| configuration | daily DAG s | hourly DAG s | features.compute s | tasks held >= 4 s | pipeline wall s "
          f"| scheduler CPU s | busy core-s | next hourly backfill s | daily vs {args.configs[0]} "
          f"| busy core-s vs {args.configs[0]} | next backfill vs {args.configs[0]} |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    base_next = min(r["next_backfill_s"] for r in results[args.configs[0]])
    base_busy = min(r["busy_core_s"] for r in results[args.configs[0]])
    for name, runs in results.items():
        best = min(runs, key=lambda r: r["daily_s"])
        next_each = " / ".join(f"{r['next_backfill_s']:.0f}" for r in runs)  # the timer's phase varies per run
        print(f"| {name} | {best['daily_s']:.0f} | {best['hourly_s']:.0f} | {best['compute_s']:.1f} "
              f"| {best['held']:.0f} | {best['wall_s']:.0f} | {best['scheduler_cpu_s']:.1f} | {best['busy_core_s']:.0f} "
              f"| {next_each} "
              f"| {best['daily_s'] / base:.2f}x | {min(r['busy_core_s'] for r in runs) / base_busy:.2f}x "
              f"| {min(r['next_backfill_s'] for r in runs) / base_next:.2f}x |")


if __name__ == "__main__":
    main()
