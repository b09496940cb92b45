"""End to end, as a new user meets ecomflow: `make run`'s pipeline on synthetic S data on DuckDB
under the local Airflow services it starts, then the UI, the dbt docs and the GX Data Docs in a
headless browser (tests/e2e/browser.py; screenshots in tests/artefacts/browser/).

The same path on PostgreSQL (warehouse and Airflow metadata) runs in test_scheduler.py; one full
run per warehouse keeps the suite within CI's budget.

Asserts the four serving tables are non-empty, well-formed and carry model_version, every Airflow
task succeeded, and re-running (Clear) the daily and the hourly DAG run leaves *every* warehouse
table (raw, audit, staging, intermediate, marts, features, serving, ml) byte-for-byte equivalent:
same rows, same values, same run ids, no duplicates (``tasks.warehouse.fingerprint``).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pandas as pd
import pytest

from tests.conftest import with_ecomflow_env as _with_env

if TYPE_CHECKING:
    from tasks.orchestration.local_airflow import LocalAirflow

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]


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
                          capture_output=True, text=True, timeout=2400)
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


def _check_demo_attack_reaches_bi(env: dict[str, str]) -> None:
    """The synthetic shop's planted card-testing burst in the demo hour (tasks/ingest/synthetic/
    payments.py) is flagged by the hourly risk scoring and shows in what BI reads right after
    that hourly run: the review queue and the day's KPIs."""
    labels = _read(env, "SELECT label FROM serving.risk_labels")
    assert labels["label"].isin(["review", "block"]).any(), labels["label"].value_counts().to_dict()
    queue = _read(env, "SELECT transaction_id, label FROM serving.risk_review_queue")
    assert len(queue) > 0 and set(queue["label"]) <= {"review", "block"}, queue
    kpis = _read(env, "SELECT n_risk_review + n_risk_block AS flagged FROM serving.daily_kpis")
    assert int(kpis["flagged"].sum()) == len(queue), (kpis, len(queue))


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _run_ids(env: dict[str, str], dag_id: str) -> list[str]:
    """Run ids of ``dag_id`` in the local Airflow's metadata, oldest first."""
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as conn:
        return [r[0] for r in conn.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id", (dag_id,))]


def test_make_run_on_duckdb_then_the_ui_as_a_person_uses_it(tmp_path: Path) -> None:
    """`make run`'s pipeline (scripts/run_pipeline.sh: local scheduler, dag-processor, triggerer,
    api-server, Spark Connect; SQLite metadata, DuckDB warehouse), then the UI in headless
    Chromium, then *Clear* of both runs (byte-for-byte the same warehouse, run ids included)."""
    from tasks.orchestration.local_airflow import LocalAirflow
    from tasks.warehouse.fingerprint import diff_fingerprints

    home = tmp_path / "home"
    env = _env(home, "duckdb", None)
    env.update({"ECOMFLOW_DEMO_HOURS": "1", "ECOMFLOW_AIRFLOW_PORT": _free_port(),
                "ECOMFLOW_SPARK_CONNECT_PORT": _free_port()})
    local = LocalAirflow.from_env(env)
    try:
        out = _run("scripts/run_pipeline.sh", env, tmp_path / "run_pipeline.log")
        assert f"Airflow UI: {local.url}" in out and "password" in out, out[-2000:]
        assert "serving.recommendations" in out and "models (champion vs best baseline" in out  # the summary table
        from tasks.score.pipeline import SCORERS

        # Every model's serving table was written on S (none "not written") and is listed.
        assert not [s for s in SCORERS if f"serving.{s}" not in out] and "not written" not in out, out[-3000:]
        plan = dict(line.split("=", 1) for line in
                    _run("ecomflow plan --format shell", env, tmp_path / "plan.log").split())
        for dag_id in ("ecomflow_daily", "ecomflow_hourly"):
            states = _task_states(home / "airflow", dag_id)
            assert states and set(states.values()) == {"success"}, (dag_id, states)
        with sqlite3.connect(home / "airflow" / "airflow.db") as conn:  # two trainings at once by default
            assert conn.execute("SELECT slots FROM slot_pool WHERE pool = 'gpu'").fetchone() == (2,)
        first = _check_serving(env)
        _check_demo_attack_reaches_bi(env)
        daily_run, hourly_run = _run_ids(env, "ecomflow_daily")[-1], _run_ids(env, "ecomflow_hourly")[-1]

        check_airflow_ui(local, daily_run)

        # Re-run (Clear) the daily run and the hourly run. Cleared runs keep their run ids, so
        # every table must come back byte-for-byte equivalent, run_id columns included.
        runs = (_run_ids(env, "ecomflow_daily"), _run_ids(env, "ecomflow_hourly"))
        assert daily_run in runs[0] and hourly_run in runs[1]
        before = _fingerprints(env)
        assert not [t for t, fp in before.items() if fp.duplicate_rows and not t.startswith("staging.")], before
        daily, hourly = f"{plan['DAILY_PARTITION']}T00:00:00Z", f"{plan['HOURLY_PARTITION']}:00:00Z"
        # Both at once, as test_scheduler.py does (a re-run of a day and of one of its hours
        # overlap in production too): the warehouse must come back the same all the same.
        for dag_id, logical in (("ecomflow_daily", daily), ("ecomflow_hourly", hourly)):
            _run(f"airflow tasks clear {dag_id} -s {logical} -e {logical} -y", env, tmp_path / f"clear_{dag_id}.log")
        for dag_id, logical in (("ecomflow_daily", daily), ("ecomflow_hourly", hourly)):
            local.wait_for_runs(dag_id, logical, logical, timeout_s=1200)
        assert (_run_ids(env, "ecomflow_daily"), _run_ids(env, "ecomflow_hourly")) == runs, "Clear made new runs"
        assert diff_fingerprints(before, _fingerprints(env)) == []
        assert _check_serving(env) == first
        _assert_no_raw_pii(env)

        check_docs_sites(env, home)
    finally:
        local.stop()


def check_airflow_ui(local: LocalAirflow, daily_run: str) -> None:
    """What a new user does in the UI: log in, see the three DAGs with docs and tags, open the
    daily graph with its task groups, read a task's log, open the day's ML reports, trigger a run
    and watch it succeed."""
    from tests.e2e.browser import airflow_login, browser, poll, task_url

    url, home = local.url, local.home
    with browser("airflow") as b:
        airflow_login(b, url, home)
        b.page.goto(f"{url}/dags")
        for text in ("ecomflow_daily", "ecomflow_hourly", "ecomflow_retrain", "daily", "hourly"):
            b.wait_for_text(text)
        b.shot("dag_list")

        b.page.goto(f"{url}/dags/ecomflow_daily")
        b.page.locator("button[aria-label='Show Graph (Press g)']").click()
        for group in ("ingest", "dbt", "features", "train", "score", "serving"):
            b.wait_for_text(group)
        assert b.page.get_by_text("Task Group").count() >= 6
        b.shot("daily_graph_task_groups")
        b.page.locator("button[aria-label='Dag Docs']").click()
        b.wait_for_text("the daily ML data product run")
        b.shot("daily_docs")

        # The Spark step's own output, streamed into the task log the UI serves.
        b.page.goto(task_url(url, "ecomflow_daily", daily_run, "features.compute"))
        b.wait_for_text("feature set user_profile as of", timeout_s=60)
        b.shot("task_log_features_compute")

        # The day's HTML reports: monitoring.report logs where they are, and the side bar's
        # "ML reports" (the ecomflow plugin) shows them inside the UI, charts included.
        b.page.goto(task_url(url, "ecomflow_daily", daily_run, "monitoring.report"))
        b.wait_for_text("open in the Airflow UI", timeout_s=60)
        b.page.get_by_role("link", name="ML reports").click()
        b.page.wait_for_url("**/plugin/ecomflow-reports**")
        frame = b.page.frame_locator("iframe")
        frame.get_by_text("ecomflow_daily").first.wait_for(timeout=30_000)
        b.shot("reports_index")
        frame.get_by_role("link", name="recommender").first.click()
        frame.locator("section[data-section='Training curves'] figure svg").wait_for(timeout=30_000)
        b.shot("reports_recommender")

        # Trigger the hourly DAG from its page (logical date: now; the demo source has no data
        # for this hour, so the run succeeds with its steps skipped and the reason logged).
        run_id = "ui_trigger_browser_test"
        b.page.goto(f"{url}/dags/ecomflow_hourly")
        b.page.get_by_role("button", name="Trigger").first.click()
        b.page.get_by_text("Advanced Options").click()
        b.page.locator("input[name=dagRunId]").fill(run_id)
        b.shot("trigger_dialog")
        b.page.locator("[role=dialog] button:has-text('Trigger')").last.click()
        state = poll(lambda: _finished_state(local, "ecomflow_hourly", run_id), 600,
                     f"the UI-triggered run {run_id} to finish")
        assert state == "success", f"run {run_id} triggered from the UI ended {state}"
        b.page.goto(f"{url}/dags/ecomflow_hourly/runs/{run_id}")
        b.wait_for_text(run_id)
        b.wait_for_text("success")
        b.shot("triggered_run_success")


def _finished_state(local: LocalAirflow, dag_id: str, run_id: str) -> str | None:
    """The run's state once it finished (None while queued/running or not created yet)."""
    from tasks.orchestration.local_airflow import LocalAirflowError

    try:
        state = local.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"]
    except LocalAirflowError:  # not created yet (404)
        return None
    return state if state in ("success", "failed") else None


def check_docs_sites(env: dict[str, str], home: Path) -> None:
    """`make docs` (the dbt docs site) and the GX Data Docs open from disk with no network, and
    show the serving models and the partition-named validation runs."""
    from tests.e2e.browser import browser

    out = _run("ecomflow docs", env, home / "docs.log")
    site = Path(out.strip().splitlines()[-1])
    with browser("dbt_docs", offline=True) as b:
        b.page.goto(site.as_uri())
        b.wait_for_text("Welcome to the auto-generated documentation", timeout_s=60)
        b.shot("dbt_docs_index")
        b.page.goto(f"{site.as_uri()}#!/model/model.ecomflow.recommendations_enriched")
        b.wait_for_text("One row per (as_of_date, user_id, rank) recommendation")
        b.shot("dbt_docs_model")
        b.page.goto(f"{site.as_uri()}#!/exposure/exposure.ecomflow.recommendations_dashboard")
        b.wait_for_text("recommendations_enriched")
        b.shot("dbt_docs_exposure")
    index = sorted(home.glob("gx/**/data_docs/**/index.html")) or sorted(home.glob("gx/**/index.html"))
    assert index, f"no GX Data Docs index under {home / 'gx'}"
    with browser("gx_data_docs", offline=True) as b:
        b.page.goto(index[0].as_uri())
        b.wait_for_text(" dt=", timeout_s=30)  # validation runs are named "<dag> dt=<partition>"
        b.shot("data_docs_index")
        # The table's search box (bootstrap-table, loaded from the site's own copy) finds each
        # DAG's checks by their run name, as the README tells a person to. (Which DAG's runs
        # come first depends on which run finished last: the re-runs above overlap.)
        search = b.page.get_by_placeholder("Search").first
        for dag_id in ("ecomflow_hourly", "ecomflow_daily"):
            search.press("Control+a")
            search.press("Backspace")
            search.press_sequentially(dag_id)
            b.wait_for_text(f"{dag_id} dt=", timeout_s=30)
            b.shot(f"data_docs_search_{dag_id.removeprefix('ecomflow_')}")
        assert not [u for u in b.blocked if u.endswith((".js", ".css"))], b.blocked
