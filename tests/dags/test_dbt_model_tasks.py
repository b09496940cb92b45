"""dbt models as Airflow tasks, run for real: the daily DAG's own per-model tasks executed with a
run's context against a small DuckDB raw layer (tests/dbt/conftest.py's SAMPLE_RAW), real dbt.

What a person relies on: a model task builds its model and runs that model's tests; a failing
test fails the task at once (no retries: the same data fails the same test again); a model added
to the project becomes a task without editing a DAG; two dbt runs never use the DuckDB file at once.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.dbt.conftest import SAMPLE_RAW, load_sample_raw

DAY = datetime(2026, 1, 3)
CONTEXT = {"data_interval_start": DAY, "data_interval_end": datetime(2026, 1, 4), "logical_date": DAY}


@pytest.fixture(autouse=True)
def _stop_dbt_worker(isolated_home):
    """The model tasks start a warm dbt worker for the test's home; stop it with the test."""
    yield
    from tasks.transform.dbt_runner import dbt_home
    from tasks.transform.dbt_worker import stop_worker

    stop_worker(dbt_home())


@pytest.fixture(scope="module")
def daily_dag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.dags.test_dag_integrity import REPO

    return DagBag(dag_folder=str(REPO / "dags" / "ecomflow_daily.py")).dags["ecomflow_daily"]


def _run_results() -> dict[str, str]:
    from tasks.transform.dbt_runner import dbt_home

    results = json.loads((dbt_home() / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results}


def test_a_model_task_builds_its_model_and_runs_its_tests(isolated_home, daily_dag) -> None:
    from tasks.warehouse import read_frame

    load_sample_raw()
    daily_dag.get_task("dbt.staging.stg_raw__users").execute(CONTEXT)

    users = read_frame("SELECT user_id, country FROM staging.stg_raw__users ORDER BY user_id")
    assert users["user_id"].tolist() == ["u1", "u2"]
    results = _run_results()
    assert results["model.ecomflow.stg_raw__users"] == "success"
    tests = {uid for uid in results if uid.startswith("test.")}
    assert any(".unique_stg_raw__users_user_id" in uid for uid in tests)
    assert any(".not_null_stg_raw__users_signup_at" in uid for uid in tests)
    assert all("stg_raw__users" in uid for uid in tests), "only this model's tests run in its task"


def test_a_failing_test_fails_its_model_task_without_retries(isolated_home, daily_dag) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    users = [dict(row) for row in SAMPLE_RAW["users"]]
    users.append({"user_id": "u9", "signup_at": None, "country": "DE", "email_hash": "h9", "dt": "2026-01-02"})
    load_sample_raw({"users": users})

    task = daily_dag.get_task("dbt.staging.stg_raw__users")
    assert task.retries >= 1  # the DAG retries tasks; a failed test must not use them
    with pytest.raises(AirflowFailException, match="not_null_stg_raw__users_signup_at") as failure:
        task.execute(CONTEXT)
    assert "not retried" in str(failure.value)
    assert _run_results()["model.ecomflow.stg_raw__users"] == "success"  # the model built; its test failed


def test_a_model_added_to_the_project_becomes_a_task(isolated_home, tmp_path: Path) -> None:
    """The graph file follows the project: a new model (here a mart reading fct_events) shows up
    with its dependency at the next load, and an unchanged project is not parsed again."""
    from tasks.transform.dbt_graph import DBT_PROJECT_DIR, load_graph

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    graph_file = tmp_path / "graph.json"
    before = {n.name for n in load_graph(graph_file, project)}
    assert "fct_events" in before and "fct_event_counts" not in before
    written = graph_file.stat().st_mtime_ns
    load_graph(graph_file, project)
    assert graph_file.stat().st_mtime_ns == written, "an unchanged project must not be parsed again"

    (project / "models" / "marts" / "fct_event_counts.sql").write_text(
        "select event_type, count(*) as n_events from {{ ref('fct_events') }} group by event_type\n")
    after = {n.name: n for n in load_graph(graph_file, project)}
    assert set(after) == before | {"fct_event_counts"}
    assert after["fct_event_counts"].layer == "marts"
    assert after["fct_event_counts"].depends_on == ("fct_events",)


def test_dbt_runs_on_one_warehouse_wait_for_each_other(isolated_home) -> None:
    """The DuckDB file takes one writer: a second dbt run waits for the first one's lock."""
    from tasks.transform.dbt_runner import run_dbt, warehouse_lock

    done: list[float] = []
    second = threading.Thread(target=lambda: (run_dbt(["parse"]), done.append(time.monotonic())))
    with warehouse_lock():
        second.start()
        time.sleep(3)
        assert second.is_alive() and not done, "dbt ran while another run held the warehouse"
        released = time.monotonic()
    second.join(timeout=120)
    assert done and done[0] >= released


HOLD_DUCKDB = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])  # a writer: what an ecomflow task's warehouse write holds
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def test_a_model_task_waits_while_another_process_holds_the_duckdb_file(isolated_home, daily_dag) -> None:
    """Seen in `make run`: a sibling task's warehouse access (outside dbt's own lock) held the
    DuckDB file when a serving model's dbt run connected, and the task failed into a retry. dbt now
    waits for the file as the product's own connections do (tasks.warehouse.connect)."""
    import subprocess
    import sys

    from tasks.settings import get_settings
    from tasks.warehouse import dispose_engine, read_frame

    load_sample_raw()
    dispose_engine()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_DUCKDB, str(get_settings().duckdb_path), "6"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        daily_dag.get_task("dbt.staging.stg_raw__users").execute(CONTEXT)
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=60)
    assert waited >= 3, f"dbt cannot have run while the file was held ({waited:.1f} s)"
    assert read_frame("SELECT count(*) AS n FROM staging.stg_raw__users")["n"].iloc[0] == 2


def test_reading_keeps_the_models_over_given_sources_and_what_reads_them() -> None:
    from tasks.transform.dbt_graph import DbtModelNode, reading

    nodes = [DbtModelNode("dim", "marts"),
             DbtModelNode("queue", "serving", depends_on=("dim",), sources=("serving.risk_labels",)),
             DbtModelNode("recs", "serving", depends_on=("dim",), sources=("serving.recommendations",)),
             DbtModelNode("kpis", "serving", depends_on=("queue",))]
    assert [n.name for n in reading(nodes, {"serving.risk_labels"})] == ["queue", "kpis"]
    assert reading(nodes, {"serving.nothing"}) == []


def test_hourly_dag_rebuilds_only_the_serving_models_over_hourly_scores() -> None:
    """BI models over daily outputs (recommendations, forecasts, ...) are rebuilt by the daily run;
    rebuilding them every hour only cost time. Those over the hour's scores stay hourly."""
    from airflow.dag_processing.dagbag import DagBag

    from tasks import pipeline_catalogue as catalogue
    from tasks.transform.dbt_graph import models_in
    from tests.dags.test_dag_integrity import REPO

    hourly = DagBag(dag_folder=str(REPO / "dags" / "ecomflow_hourly.py")).dags["ecomflow_hourly"]
    daily = DagBag(dag_folder=str(REPO / "dags" / "ecomflow_daily.py")).dags["ecomflow_daily"]
    serving = {n.name: n for n in models_in(["serving"])}
    in_hourly = {t.removeprefix("serving.") for t in hourly.task_ids} & set(serving)
    in_daily = {t.removeprefix("serving.") for t in daily.task_ids} & set(serving)
    assert in_daily == set(serving)
    assert {"risk_review_queue", "daily_kpis", "session_intent_enriched"} <= in_hourly
    assert not {"recommendations_enriched", "demand_forecasts_enriched", "forecast_vs_actual"} & in_hourly
    hourly_tables = set(catalogue.serving_tables("hourly"))

    def reads_hourly(name: str) -> bool:
        node = serving[name]
        return bool(set(node.sources) & hourly_tables) or any(reads_hourly(d) for d in node.depends_on if d in serving)

    assert in_hourly == {name for name in serving if reads_hourly(name)}


def test_one_parse_serves_every_partition_and_each_build_filters_by_its_own_date(
        isolated_home, daily_dag, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The warm worker keys its parsed project on the project, profile and dbt settings, not on
    --vars (an hourly run re-parsed the whole project for its new hour) nor on the per-task
    variables Airflow sets in each task's environment (every model task re-parsed it). Each build
    must still filter by its own as_of_date (dbt compiles the SQL per invocation with its vars).
    The macros' Jinja templates are compiled once with the parse, not again in every build."""
    from tasks.transform.dbt_runner import dbt_home
    from tasks.transform.dbt_worker import PRECOMPILE_FLAG
    from tasks.warehouse import read_frame

    caplog.set_level(logging.DEBUG, logger="tasks.transform.dbt_runner")

    def compiled(text: str) -> list[int]:
        return [int(n) for n in re.findall(r"dbt worker: (\d+) macros compiled in the build", text)]

    load_sample_raw()
    task = daily_dag.get_task("dbt.staging.stg_raw__events")
    latest_dt = {}
    for day in (datetime(2026, 1, 2), datetime(2026, 1, 3)):
        end = datetime(day.year, day.month, day.day + 1)
        monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", f"scheduled__{day:%Y-%m-%d}")  # as a task process has
        task.execute({"data_interval_start": day, "data_interval_end": end, "logical_date": day})
        found = read_frame("SELECT max(dt) AS dt FROM staging.stg_raw__events")["dt"].iloc[0]
        latest_dt[day.day] = str(found)[:10]
    assert latest_dt == {2: "2026-01-02", 3: "2026-01-03"}, latest_dt
    parses = (dbt_home() / "worker.log").read_text().count("parsed the project")
    assert parses == 1, f"the worker parsed the project {parses} times for two partitions"
    # The builds compiled no macro: the worker compiled them all once, before forking them.
    assert compiled(caplog.text) == [0, 0], caplog.text[-2000:]
    # Without that (a setting the worker parses again for), a build compiles the ones it calls.
    caplog.clear()
    monkeypatch.setenv(PRECOMPILE_FLAG, "0")
    task.execute({"data_interval_start": DAY, "data_interval_end": datetime(2026, 1, 4), "logical_date": DAY})
    assert compiled(caplog.text)[0] > 20, caplog.text[-2000:]


def test_a_runs_first_task_has_the_worker_parse_ahead_without_the_warehouse_file(isolated_home, daily_dag) -> None:
    """The ingest task of both DAGs starts the warm worker and has it parse the project in the
    background (``dbt_runner.prepare_worker``), so the first model task finds it parsed. The
    parse runs while the ingest writes the warehouse: it must not need the DuckDB file (held
    here by this process, which DuckDB locks against every other process)."""
    from airflow.dag_processing.dagbag import DagBag

    from tasks.transform.dbt_runner import dbt_home, prepare_worker
    from tasks.warehouse import connect
    from tests.dags.test_dag_integrity import REPO

    hourly = DagBag(dag_folder=str(REPO / "dags" / "ecomflow_hourly.py")).dags["ecomflow_hourly"]
    for dag in (daily_dag, hourly):
        assert dag.get_task("ingest.load").prepare_dbt_worker, dag.dag_id
    load_sample_raw()
    with connect():
        prepare_worker()
        # the caller went on before the worker had imported dbt and parsed the project
        assert "(prepared ahead)" not in (dbt_home() / "worker.log").read_text()
        deadline = time.monotonic() + 120
        while "(prepared ahead)" not in (log_text := (dbt_home() / "worker.log").read_text()):
            assert time.monotonic() < deadline, log_text[-2000:]
            time.sleep(0.2)
    daily_dag.get_task("dbt.staging.stg_raw__events").execute(CONTEXT)
    parses = (dbt_home() / "worker.log").read_text().count("parsed the project")
    assert parses == 1, f"the model task parsed the project again ({parses} parses): the keys differ"


def test_without_dbt_on_the_machine_the_prepare_is_skipped_not_the_ingest(
        isolated_home, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An ingest-only worker (no dbt beside its interpreter) still ingests: the prepare is an
    optimisation and steps aside."""
    import sys

    from tasks.transform.dbt_runner import dbt_home, prepare_worker

    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    prepare_worker()
    assert not (dbt_home() / "worker.log").exists()


def test_no_dbt_config_or_yml_reads_a_var() -> None:
    """What lets the worker ignore --vars when it caches the parsed project: vars are read only in
    SQL that dbt compiles per invocation (the as_of_filter macro), never in configs or yml."""
    import re

    from tests.dags.test_dag_integrity import REPO

    project = REPO / "dbt_project"
    readers = sorted(str(p.relative_to(project)) for p in project.rglob("*")
                     if p.suffix in (".sql", ".yml", ".yaml") and not {"target", "dbt_packages", "logs"} & set(p.parts)
                     and re.search(r"(?<![\w.])var\(", p.read_text()))
    assert readers == ["macros/as_of_filter.sql"], readers
