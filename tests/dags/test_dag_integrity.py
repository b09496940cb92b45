"""DAG integrity (mozilla/telemetry-airflow style): every DAG imports, is documented, owned,
tagged, retried, bounded, and cheap to parse."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("ecomflow_*.py"))
HEAVY_MODULES = ("torch", "pyspark", "great_expectations", "pandas", "sklearn", "dbt", "duckdb")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {d for d in dagbag.dag_ids} == {"ecomflow_daily", "ecomflow_hourly", "ecomflow_retrain"}


def test_file_name_is_dag_id(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert Path(dag.fileloc).stem == dag.dag_id


@pytest.mark.parametrize("dag_id", ["ecomflow_daily", "ecomflow_hourly", "ecomflow_retrain"])
def test_dag_hygiene(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.doc_md and "When it fails" in dag.doc_md, "doc_md must tell on-call what to do"
    assert {"ecomflow"} <= set(dag.tags)
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    for task in dag.tasks:
        assert task.owner == "data-platform", task.task_id
        assert task.retries >= 1, f"{task.task_id} has no retries"
        assert task.execution_timeout is not None, task.task_id


def _serving_model_tasks(dag) -> set[str]:
    """The dbt serving model tasks in ``dag`` (the hourly DAG has only those over hourly scores)."""
    from tasks.transform.dbt_graph import models_in

    return {f"serving.{n.name}" for n in models_in(["serving"])} & set(dag.task_ids)


def test_daily_dag_gates_and_order(dagbag) -> None:
    dag = dagbag.dags["ecomflow_daily"]
    ids = set(dag.task_ids)
    for required in ("ingest.load", "ingest.gx_raw", "dbt.staging.stg_raw__events", "dbt.marts.fct_events",
                     "dbt.gx_marts", "features.compute", "features.gx_features", "serving.daily_kpis",
                     "serving.gx_outputs", "serving.grant_bi_reader", "serving.freshness"):
        assert required in ids
    assert "ingest.gx_raw" in dag.get_task("ingest.load").downstream_task_ids
    dbt_tasks = [t for t in dag.tasks if t.task_id.startswith(("dbt.staging.", "dbt.intermediate.", "dbt.marts."))]
    # The dbt group starts after the raw gate: every model task without a model upstream waits for it.
    for task in dbt_tasks:
        if not {u for u in task.upstream_task_ids if u.startswith("dbt.")}:
            assert task.upstream_task_ids == {"ingest.gx_raw"}, task.task_id
    # gx_marts after every mart model (directly or through a later model), features after gx_marts.
    gx_marts_ancestors = dag.get_task("dbt.gx_marts").get_flat_relative_ids(upstream=True)
    assert {t.task_id for t in dbt_tasks} <= gx_marts_ancestors
    assert dag.get_task("features.compute").upstream_task_ids == {"dbt.gx_marts"}
    from tasks import pipeline_catalogue as catalogue

    trains = [t for t in dag.tasks if t.task_id.startswith("train.")]
    assert len(trains) == len(catalogue.models()) and all(t.pool == "gpu" for t in trains)
    for t in trains:
        assert t.upstream_task_ids == {"features.user_segments"}
    assert dag.get_task("features.user_segments").upstream_task_ids == {"features.gx_features"}
    scorers = catalogue.scorers("daily")
    for scorer in scorers:
        score = dag.get_task(f"score.{scorer}")
        after = {f"score.{s}" for s in catalogue.scorer_after(scorer)}
        if after:  # a scorer that reads another's output waits for it (and through it for every model)
            assert score.upstream_task_ids == after, scorer
            assert {t.task_id for t in trains} <= score.get_flat_relative_ids(upstream=True), scorer
        else:
            assert score.upstream_task_ids == {t.task_id for t in trains}, "scoring waits for every model"
    assert dag.get_task("score.inventory_actions").upstream_task_ids == {"score.demand_forecasts"}
    serving = _serving_model_tasks(dag)
    assert serving <= ids
    # Serving models after scoring: the first ones wait for every scorer no other scorer waits for
    # (the score group's leaves), so every serving.* table is written before any view reads it.
    leaves = {f"score.{s}" for s in scorers} - {f"score.{b}" for s in scorers for b in catalogue.scorer_after(s)}
    for task_id in serving:
        upstream = dag.get_task(task_id).upstream_task_ids
        assert upstream == leaves or upstream <= serving, task_id
    for after in ("serving.gx_outputs", "serving.grant_bi_reader"):
        assert serving <= dag.get_task(after).get_flat_relative_ids(upstream=True), after
    # dbt source freshness: after the serving build, beside its GX checks (the writer lock orders
    # them on DuckDB), and off the path to monitoring (warn-only: nothing waits for it).
    assert dag.get_task("serving.freshness").upstream_task_ids == dag.get_task("serving.gx_outputs").upstream_task_ids
    assert not dag.get_task("serving.freshness").downstream_task_ids


@pytest.mark.parametrize("dag_id", ["ecomflow_daily", "ecomflow_hourly"])
def test_dags_read_like_the_pipeline_and_follow_the_catalogues(dagbag, dag_id: str) -> None:
    """Task groups per stage; every feature set, model, scorer and suite of the catalogues is a task
    (or a suite of its gate), so a new catalogue entry cannot be forgotten in dags/."""
    from tasks import pipeline_catalogue as catalogue

    dag = dagbag.dags[dag_id]
    cadence = dag_id.removeprefix("ecomflow_")
    groups = {tid.split(".")[0] for tid in dag.task_group.get_task_group_dict() if tid}
    expected_groups = {"ingest", "features", "score", "serving"} | (
        {"dbt", "train", "monitoring"} if cadence == "daily" else set())
    assert groups == expected_groups
    if cadence == "daily":  # monitoring reads what serving wrote, once the outputs passed their checks
        assert "serving.gx_outputs" in dag.get_task("monitoring.run").upstream_task_ids
    ids = set(dag.task_ids)
    assert {f"features.{job}" for job in catalogue.feature_jobs(cadence)} <= ids
    assert {f"score.{s}" for s in catalogue.scorers(cadence)} <= ids
    if cadence == "daily":
        assert {f"train.{m}" for m in catalogue.models()} <= ids
    assert dag.get_task("ingest.gx_raw").suites == catalogue.raw_suites(cadence)
    assert dag.get_task("features.gx_features").suites == catalogue.feature_suites(cadence)
    assert dag.get_task("serving.gx_outputs").suites == catalogue.serving_suites(cadence)
    # Assets connect producers and consumers in the UI's asset graph.
    for scorer in catalogue.scorers(cadence):
        task = dag.get_task(f"score.{scorer}")
        assert [a.name for a in task.outlets] == [f"serving.{scorer}"]
        assert [a.name for a in task.inlets] == [f"champion.{catalogue.scorer_model(scorer)}"]


def test_hourly_scores_reach_the_bi_serving_models_in_the_same_run(dagbag) -> None:
    dag = dagbag.dags["ecomflow_hourly"]
    serving = _serving_model_tasks(dag)
    assert {"serving.risk_review_queue", "serving.daily_kpis"} <= serving
    for task_id in serving:
        task = dag.get_task(task_id)
        assert task.select[0] == task_id.removeprefix("serving.")
        assert task.skip_unless_table == "marts.fct_events"
        assert task.upstream_task_ids == {"score.session_intent", "score.risk_labels"} or task.upstream_task_ids <= serving
    assert "serving.risk_review_queue" in dag.get_task("serving.daily_kpis").upstream_task_ids
    assert serving <= dag.get_task("serving.gx_outputs").get_flat_relative_ids(upstream=True)


@pytest.fixture(scope="module")
def parsed_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A fresh ``dbt parse`` of dbt_project/ (real dbt), independent of the graph file the DAGs read."""
    import json

    from tasks.transform.dbt_runner import run_dbt

    target = tmp_path_factory.mktemp("dbt_parse")
    run_dbt(["parse"], extra_env={"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}, lock=False)
    return json.loads((target / "manifest.json").read_text())


def test_every_dbt_model_is_a_task_in_its_layer_group_in_dependency_order(dagbag, parsed_manifest) -> None:
    """Each model of the manifest is one task: dbt.<layer>.<model> in the daily DAG's dbt group,
    serving.<model> in the serving group of every DAG; each runs after the tasks of the models it
    refs, and every test on several models runs in a task that comes after all of its models."""
    models = {uid: n for uid, n in parsed_manifest["nodes"].items() if n["resource_type"] == "model"}
    assert len(models) >= 20

    def task_id(node: dict) -> str:
        layer = node["fqn"][1]
        return f"serving.{node['name']}" if layer == "serving" else f"dbt.{layer}.{node['name']}"

    daily = dagbag.dags["ecomflow_daily"]
    dbt_ids = {t for t in daily.task_ids if t.startswith("dbt.") and t != "dbt.gx_marts"}
    assert dbt_ids == {task_id(n) for n in models.values() if n["fqn"][1] != "serving"}
    for dag_id in ("ecomflow_daily", "ecomflow_hourly", "ecomflow_retrain"):
        dag = dagbag.dags[dag_id]
        in_dag = {uid: task_id(n) for uid, n in models.items() if task_id(n) in dag.task_ids}
        if dag_id != "ecomflow_hourly":  # hourly: only the models over hourly scores (test_dbt_model_tasks.py)
            assert {n["name"] for uid, n in models.items() if n["fqn"][1] == "serving"} <= {
                n["name"] for uid, n in models.items() if uid in in_dag}, dag_id
        for uid, tid in in_dag.items():
            task = dag.get_task(tid)
            assert task.select[0] == models[uid]["name"]
            ancestors = task.get_flat_relative_ids(upstream=True)
            for parent in models[uid]["depends_on"]["nodes"]:
                if parent in in_dag:
                    assert in_dag[parent] in ancestors, f"{dag_id}: {tid} must run after {in_dag[parent]}"
        for test in (n for n in parsed_manifest["nodes"].values() if n["resource_type"] == "test"):
            parents = [p for p in test["depends_on"]["nodes"] if p in in_dag]
            if len(parents) < 2:
                continue
            runners = [tid for tid in in_dag.values() if test["name"] in dag.get_task(tid).select]
            assert len(runners) == 1, f"{dag_id}: {test['name']} runs in {runners}"
            others = {in_dag[p] for p in parents} - set(runners)
            assert others <= dag.get_task(runners[0]).get_flat_relative_ids(upstream=True), test["name"]


def test_schedules_use_data_intervals(dagbag) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    for dag_id, expr in (("ecomflow_daily", "0 0 * * *"), ("ecomflow_hourly", "0 * * * *"),
                         ("ecomflow_retrain", "0 4 * * 1")):
        timetable = dagbag.dags[dag_id].timetable
        timetable = getattr(timetable, "timetable", timetable)  # the time part of asset-or-time
        assert isinstance(timetable, CronDataIntervalTimetable)
        assert timetable.expression == expr


def test_daily_and_hourly_runs_can_be_triggered_to_rescore(dagbag) -> None:
    """The Trigger form offers `rescore` (off by default: a re-run reproduces what was served)."""
    for dag_id in ("ecomflow_daily", "ecomflow_hourly"):
        params = dagbag.dags[dag_id].params
        assert "rescore" in params and params["rescore"] is False, (dag_id, dict(params))


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=[f.name for f in DAG_FILES])
def test_parse_time_and_no_heavy_imports(dag_file: Path) -> None:
    """Import one DAG file in a fresh interpreter (Airflow already imported) and time it."""
    code = f"""
import sys, time, importlib.util
import airflow.sdk  # the scheduler has Airflow loaded already
sys.path.insert(0, {str(REPO / 'plugins')!r})
before = set(sys.modules)
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("dagmod", {str(dag_file)!r})
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
elapsed = time.perf_counter() - t
heavy = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {HEAVY_MODULES!r})
print("RESULT", elapsed, ','.join(heavy) or '-')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO, timeout=120)
    result = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")][-1].split()
    elapsed, heavy = float(result[1]), result[2]
    assert heavy == "-", f"{dag_file.name} imports heavy modules at parse time: {heavy}"
    assert elapsed < 0.5, f"{dag_file.name} took {elapsed:.3f}s to parse"


def test_historical_partitions_can_run(dagbag) -> None:
    """A run before start_date silently gets no tasks; real data sets go back to 2010."""
    from datetime import datetime

    for dag in dagbag.dags.values():
        assert dag.start_date <= datetime(2005, 1, 1, tzinfo=UTC), dag.dag_id


def test_retrain_dag_trains_every_model_in_the_gpu_pool(dagbag) -> None:
    from tasks.train.pipeline import TRAINERS
    from tasks.train.retrain import MODEL_SCORERS

    dag = dagbag.dags["ecomflow_retrain"]
    retrains = [t for t in dag.tasks if t.task_id.startswith("retrain.")]
    assert {t.task_id for t in retrains} == {f"retrain.{m}" for m in TRAINERS}
    assert all(t.pool == "gpu" for t in retrains)
    # a new champion reaches BI in the same run, whatever each challenger's outcome
    serving = _serving_model_tasks(dag)
    for task_id in serving:
        task = dag.get_task(task_id)
        if task.upstream_task_ids <= serving:
            continue
        assert task.upstream_task_ids == {t.task_id for t in retrains}
        assert task.trigger_rule == "all_done"
    assert set(MODEL_SCORERS) == set(TRAINERS)
    assert {"as_of_date", "models"} <= set(dag.params)


def test_monitoring_retrain_requests_trigger_the_retrain_dag(dagbag) -> None:
    """monitoring.run adds retrain request events through an alias (only when it requests one);
    ecomflow_retrain runs on that asset as well as weekly, and its retrain tasks read it."""
    from airflow.sdk import AssetAlias, AssetOrTimeSchedule
    from ecomflow_airflow.assets import RETRAIN_REQUEST_URI, retrain_request_alias

    monitoring = dagbag.dags["ecomflow_daily"].get_task("monitoring.run")
    assert retrain_request_alias() in monitoring.outlets
    assert all(isinstance(o, AssetAlias) for o in monitoring.outlets)  # no event on every run

    retrain = dagbag.dags["ecomflow_retrain"]
    assert isinstance(retrain.timetable, AssetOrTimeSchedule)
    condition = retrain.timetable.asset_condition
    assert [a.uri for a in getattr(condition, "objects", (condition,))] == [RETRAIN_REQUEST_URI]
    for task in retrain.tasks:
        if task.task_id.startswith("retrain."):
            assert RETRAIN_REQUEST_URI in {getattr(i, "uri", None) for i in task.inlets}, task.task_id


def test_retrain_reads_models_and_as_of_date_from_the_request() -> None:
    from datetime import date

    from airflow.sdk import Asset
    from ecomflow_airflow.assets import retrain_request_asset
    from ecomflow_airflow.operators import RetrainModelOperator

    class Event:
        def __init__(self, extra: dict) -> None:
            self.extra = extra

    context = {"params": {}, "triggering_asset_events": {
        retrain_request_asset(): [Event({"models": ["risk"], "as_of_date": "2026-02-11"}),
                                  Event({"models": ["recommender"], "as_of_date": "2026-02-12"})],
        Asset("ecomflow://elsewhere"): [Event({"models": ["session_intent"]})]}}
    extras = RetrainModelOperator.requested(context)  # type: ignore[arg-type]
    assert sorted(m for e in extras for m in e["models"]) == ["recommender", "risk"]
    assert RetrainModelOperator.as_of_date(context) == date(2026, 2, 12)  # type: ignore[arg-type]
    # A hand-triggered run's params win over the request.
    assert RetrainModelOperator.as_of_date({**context, "params": {"as_of_date": "2026-01-05"}}) == date(2026, 1, 5)
