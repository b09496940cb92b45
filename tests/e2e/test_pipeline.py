"""End to end: both DAGs with real `airflow dags test` on synthetic S data on DuckDB.

The same path on PostgreSQL runs under a real scheduler in test_scheduler.py (one full run
per warehouse keeps the suite well under CI's budget).

Asserts the four serving tables are non-empty, well-formed and carry model_version, every Airflow
task succeeded, and re-running the daily and the hourly DAG run leaves *every* warehouse table
(raw, audit, staging, intermediate, marts, features, serving, ml) byte-for-byte equivalent:
same rows, same values, same run ids, no duplicates (``tasks.warehouse.fingerprint``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import with_ecomflow_env as _with_env

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def _env(home: Path, warehouse: str, pg_db: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ECOMFLOW_", "AIRFLOW"))}
    env.update({
        "ECOMFLOW_HOME": str(home),
        "ECOMFLOW_WAREHOUSE": warehouse,
        "ECOMFLOW_SYNTHETIC_SIZE": "S",
        "ECOMFLOW_PII_KEY": "test-only-dummy-key",
        "ECOMFLOW_SPARK_MASTER": "local[2]",
        "AIRFLOW_HOME": str(home / "airflow"),
    })
    if pg_db:
        env.update({"ECOMFLOW_PG_HOST": "127.0.0.1", "ECOMFLOW_PG_USER": "postgres", "ECOMFLOW_PG_DB": pg_db})
    return env


def _run(cmd: str, env: dict[str, str], log: Path) -> str:
    proc = subprocess.run(["bash", "-c", f"source scripts/env.sh && {cmd}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1200)
    log.write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"`{cmd}` failed (log {log}):\n{(proc.stdout + proc.stderr)[-4000:]}"
    return proc.stdout


def _task_states(airflow_home: Path, dag_id: str) -> dict[str, str]:
    with sqlite3.connect(airflow_home / "airflow.db") as conn:
        rows = conn.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = "
            "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)", (dag_id, dag_id)
        ).fetchall()
    return dict(rows)


def _read(env: dict[str, str], sql: str) -> pd.DataFrame:
    """Read the warehouse with the run's settings (in this process, after the DAG runs ended)."""
    from tasks.warehouse import read_frame

    return _with_env(env, read_frame, sql)


def _fingerprints(env: dict[str, str], exclude_columns: tuple[str, ...] = ()) -> dict:
    from tasks.warehouse.fingerprint import fingerprint_warehouse

    found = _with_env(env, fingerprint_warehouse, DEFAULT_SCHEMAS, exclude_columns)
    assert {t.split(".")[0] for t in found} >= {"raw", "audit", "marts", "features", "serving", "ml"}, found
    return found


def _assert_no_raw_pii(env: dict[str, str]) -> None:
    """No raw e-mail, name, card number, IP or address of the source in any feature, mart,
    model or serving table, nor in the lake (the source's own values are the search list)."""

    def scan() -> None:
        from tasks.ingest.sources import get_source
        from tasks.quality.pii_scan import PIPELINE_SCHEMAS, assert_no_pii, raw_pii_values, scan_lake
        from tasks.settings import get_settings
        from tasks.warehouse import connect

        raw = raw_pii_values(get_source(get_settings().source))
        assert raw, "the synthetic source should carry raw PII to search for"
        with connect() as conn:
            assert_no_pii(conn, raw, schemas=PIPELINE_SCHEMAS, min_tables=10)
        assert scan_lake(get_settings().lake_root, raw) == []

    _with_env(env, scan)


DEFAULT_SCHEMAS = ("raw", "audit", "staging", "intermediate", "marts", "features", "serving", "ml")




def _check_serving(env: dict[str, str]) -> dict[str, int]:
    counts = {}
    recs = _read(env, "SELECT * FROM serving.recommendations")
    assert len(recs) > 0
    assert recs["rank"].between(1, 10).all()
    assert not recs.duplicated(["as_of_date", "user_id", "rank"]).any()
    intent = _read(env, "SELECT * FROM serving.session_intent")
    assert len(intent) > 0 and intent["p_purchase"].between(0, 1).all()
    assert set(intent["intent"]) <= {"browse", "compare", "buy"}
    fc = _read(env, "SELECT * FROM serving.demand_forecasts")
    assert len(fc) > 0
    assert ((fc["p10"] <= fc["p50"]) & (fc["p50"] <= fc["p90"])).all()
    risk = _read(env, "SELECT * FROM serving.risk_labels")
    assert len(risk) > 0 and risk["risk_score"].between(0, 1).all()
    assert set(risk["label"]) <= {"pass", "review", "block"}
    assert set(risk["action"]) <= {"none", "warn", "intercept", "freeze_account"}
    for name, frame in (("recommendations", recs), ("session_intent", intent),
                        ("demand_forecasts", fc), ("risk_labels", risk)):
        for col in ("model_version", "run_id", "scored_at", "as_of_date"):
            assert col in frame.columns and frame[col].notna().all(), f"{name}.{col}"
        counts[name] = len(frame)
    return counts


def _pipeline(tmp_path: Path, warehouse: str, pg_db: str | None = None) -> None:
    home = tmp_path / "home"
    env = _env(home, warehouse, pg_db)
    _run("scripts/airflow_init.sh", env, tmp_path / "init.log")
    plan = dict(line.split("=", 1) for line in
                _run("ecomflow plan --format shell", env, tmp_path / "plan.log").split())
    _run(f"ecomflow backfill-ingest --until {plan['DAILY_PARTITION']}", env, tmp_path / "backfill.log")
    _run(f"airflow dags test ecomflow_daily {plan['DAILY_LOGICAL_DATE']}", env, tmp_path / "daily.log")
    states = _task_states(home / "airflow", "ecomflow_daily")
    assert states and set(states.values()) == {"success"}, states
    day = plan["HOURLY_PARTITION"].split("T")[0]
    _run(f"ecomflow backfill-ingest --since {day}T00 --until {plan['HOURLY_PARTITION']}", env,
         tmp_path / "backfill_hours.log")
    _run(f"airflow dags test ecomflow_hourly {plan['HOURLY_LOGICAL_TS']}", env, tmp_path / "hourly.log")
    states = _task_states(home / "airflow", "ecomflow_hourly")
    assert states and set(states.values()) == {"success"}, states
    first = _check_serving(env)

    # Idempotency: the same daily run, then the same hourly run, again leave every table
    # byte-for-byte equivalent. `airflow dags test` replaces the DAG run with a new one whose run id
    # holds the wall clock, so `run_id` columns are left out here; test_scheduler.py *Clears* runs
    # under the real scheduler (run id kept) and compares every column.
    from tasks.warehouse.fingerprint import diff_fingerprints

    before = _fingerprints(env, ("run_id",))
    assert not [t for t, fp in before.items() if fp.duplicate_rows and not t.startswith("staging.")], before
    _run(f"airflow dags test ecomflow_daily {plan['DAILY_LOGICAL_DATE']}", env, tmp_path / "daily2.log")
    assert set(_task_states(home / "airflow", "ecomflow_daily").values()) == {"success"}
    _run(f"airflow dags test ecomflow_hourly {plan['HOURLY_LOGICAL_TS']}", env, tmp_path / "hourly2.log")
    assert set(_task_states(home / "airflow", "ecomflow_hourly").values()) == {"success"}
    after = _fingerprints(env, ("run_id",))
    assert diff_fingerprints(before, after) == []
    assert _check_serving(env) == first
    _assert_no_raw_pii(env)
    summary = _run("ecomflow summary", env, tmp_path / "summary.log")
    assert "serving.recommendations" in summary and "champion models" in summary


def test_pipeline_on_duckdb(tmp_path: Path) -> None:
    _pipeline(tmp_path, "duckdb")
