"""
### ecomflow_daily — the daily ML data product run

**What it does** (one daily partition `dt = data_interval_start`, as-of instant = end of that day),
one task group per stage:

1. **ingest** — `load` lands every entity of the configured source (`ECOMFLOW_SOURCE`) for the day
   into `lake/landing`, `lake/raw` and `raw.*`; bad rows go to `audit.quarantine`, one row per load
   to `audit.load_log` (rows in = accepted + quarantined). `gx_raw` gates the raw partition with
   Great Expectations checkpoints.
2. **dbt** — one task per dbt model, in nested groups `staging` → `intermediate` → `marts`, wired
   by the models' refs; each runs `dbt build` of its model and that model's tests, so a failed model
   or test is retried or cleared on its own (a failed test fails at once, without retries). One
   dbt runs at a time on the warehouse (the others wait for its lock). `gx_marts` gates the marts.
3. **features** — `compute` computes every feature set as of the end of the day in one Spark
   application (point-in-time; a long-lived Spark Connect server when one is configured), one task
   per set publishes it to `features.*`, `gx_features` gates them, `user_segments` clusters the
   day's user profiles (K-means): a model feature and the recommender's cold-start fallback.
4. **train** — one task per model, trained when due (or when none exists) in the `gpu` pool; a
   candidate is served only when it beats the champion and the best baseline.
5. **score** — every scorer with its model's champion → `serving.*` (partition replace); a scorer
   that reads another's output of the day waits for it (`inventory_actions` after `demand_forecasts`).
6. **serving** — one task per dbt serving model rebuilds the BI serving models, `gx_outputs` checks the outputs,
   `grant_bi_reader` keeps the PostgreSQL role `bi_reader` (BI tools) able to read `serving` only,
   `freshness` runs `dbt source freshness` and logs each source's newest row and age (warns only:
   replayed/synthetic history is old by design; a scoring table not written yet shows as missing).
7. **monitoring** — `run` scores earlier outputs whose truth is now known (`monitoring.realised_metrics`)
   and compares the day's model inputs and outputs with each model's training reference
   (`monitoring.feature_drift`, `monitoring.prediction_drift`); a part without its inputs is skipped
   with the reason in the log. Every partitioned task also records its rows and duration in
   `monitoring.pipeline_runs` (`docs/monitoring.md`). `report` writes the day's HTML reports per
   model (charts of all of it) and logs their path; open them with the **ML reports** button in the UI's side bar.

The task lists come from the catalogues (`tasks/pipeline_catalogue.py`): a new feature set, model,
scorer or suite appears here without editing this file.

**Skipped (pink) tasks are expected** when the configured source has no input for a step, e.g. no
payments for the risk model with a clickstream-only source; the task log says which `raw.*`
table was empty (`tasks/applicability.py`). Skips never block later steps; failures do.

**When it fails**: open the failed task's log. GX failures print the Data Docs path
(`$ECOMFLOW_HOME/gx/...`) with the failing expectations; ingestion failures name file, row and
column, and quarantined rows are in `audit.quarantine` for this `dt`. Failures that cannot change
on a retry (a gate, bad input, a mapping error) fail at once instead of retrying. Every task
replaces exactly its partition, so after fixing the cause simply *Clear* the failed task (or the
run) to re-run it; nothing is duplicated and the previous good data stays readable until the new
data is published.

**Re-scoring a past day**: a re-run scores with the model version that served the partition
(point-in-time serving), so yesterday's rows never change behind BI's back. To serve a past day
with today's champion, run that date with the `rescore` param on: a backfill of the date with
run conf `{"rescore": true}` (README, "Operating the DAGs"); each scorer then logs a `rescored`
row in `ml.promotion_log`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TaskGroup
from ecomflow_airflow.assets import champion_asset, feature_asset, serving_asset
from ecomflow_airflow.dag_defaults import partition_dag_kwargs
from ecomflow_airflow.dbt_tasks import dbt_model_tasks
from ecomflow_airflow.notifiers import daily_run_deadline
from ecomflow_airflow.operators import (
    DbtSourceFreshnessOperator,
    GrantBIAccessOperator,
    GXCheckpointOperator,
    IngestPartitionOperator,
    MonitoringOperator,
    PublishFeatureSetOperator,
    ReportOperator,
    ScoreOperator,
    SparkFeatureSetsOperator,
    TrainModelOperator,
    UserSegmentsOperator,
)

from tasks import pipeline_catalogue as catalogue

FEATURE_JOBS = catalogue.feature_jobs("daily")

with DAG(
    dag_id="ecomflow_daily",
    description="Daily ingest → dbt → GX → Spark features → train → score → serving",
    doc_md=__doc__,
    # Alerts (off until an alert connection exists): a late run, and every task that failed for good.
    deadline=daily_run_deadline(),
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    **partition_dag_kwargs(
        cadence="daily", retry_delay=timedelta(minutes=2), execution_timeout=timedelta(hours=2),
        force_train=Param(False, type="boolean", description="Retrain every model even if not due")),
) as dag:
    with TaskGroup("ingest", tooltip="Land the day's source files, load raw.*, gate them") as ingest:
        load = IngestPartitionOperator(task_id="load", cadence="daily")
        gx_raw = GXCheckpointOperator(task_id="gx_raw", cadence="daily", scope="ingest",
                                      # nothing to check when the source had nothing to ingest
                                      trigger_rule="all_success", suites=catalogue.raw_suites("daily"))
        load >> gx_raw

    with TaskGroup("dbt", tooltip="staging → intermediate → marts (one task per model + its tests), then GX"):
        # From dbt's manifest (tasks/transform/dbt_graph.py): a new model is a new task.
        models = dbt_model_tasks(["staging", "intermediate", "marts"])
        gx_marts = GXCheckpointOperator(task_id="gx_marts", cadence="daily", scope="table",
                                        suites=catalogue.mart_suites())
        # Every model that nothing else waits for (all marts, and staging views no mart reads).
        models.leaves >> gx_marts

    with TaskGroup("features", tooltip="Point-in-time Spark features, published and gated") as features:
        # One Spark application computes every feature set of the run (JVM start-up dominated one
        # submit per set); each set is then published to the warehouse by its own task.
        compute = SparkFeatureSetsOperator(task_id="compute", cadence="daily", jobs=FEATURE_JOBS)
        publish = [PublishFeatureSetOperator(task_id=job, cadence="daily", job=job,
                                             outlets=[feature_asset(job)]) for job in FEATURE_JOBS]
        gx_features = GXCheckpointOperator(task_id="gx_features", cadence="daily", scope="as_of",
                                           suites=catalogue.feature_suites("daily"))
        segments = UserSegmentsOperator(task_id="user_segments", cadence="daily")
        compute >> publish >> gx_features >> segments

    with TaskGroup("train", tooltip="Train when due; promote only a model better than champion and baselines"):
        train = [TrainModelOperator(task_id=model, model=model, outlets=[champion_asset(model)],
                                    inlets=[feature_asset(job) for job in FEATURE_JOBS])
                 for model in catalogue.models()]

    with TaskGroup("score", tooltip="Champion models → serving.* (partition replace)") as score:
        scorers = {scorer: ScoreOperator(task_id=scorer, cadence="daily", scorer=scorer,
                                         outlets=[serving_asset(scorer)],
                                         inlets=[champion_asset(catalogue.scorer_model(scorer))])
                   for scorer in catalogue.scorers("daily")}
        # A scorer that reads another one's output of the day runs after it (SCORER_AFTER).
        for scorer, task in scorers.items():
            for before in catalogue.scorer_after(scorer):
                scorers[before] >> task

    with TaskGroup("serving", tooltip="BI serving models, output checks, BI access") as serving:
        serving_models = dbt_model_tasks(["serving"], nest=False)
        gx_outputs = GXCheckpointOperator(task_id="gx_outputs", cadence="daily", scope="as_of",
                                          suites=catalogue.serving_suites("daily"))
        grant_bi = GrantBIAccessOperator(task_id="grant_bi_reader")
        # Warn-only: logs each source's newest row and age; old (replayed) data never fails it.
        freshness = DbtSourceFreshnessOperator(task_id="freshness")
        serving_models.leaves >> gx_outputs
        serving_models.leaves >> grant_bi
        # Beside the GX checks: on DuckDB the two take turns on the warehouse file's writer lock
        # (tasks/warehouse/engine.py), so neither fails on the other; nothing waits for freshness.
        serving_models.leaves >> freshness

    with TaskGroup("monitoring", tooltip="Realised accuracy of earlier outputs, input/output drift"):
        # After the serving checks: it reads serving.* (built by the serving dbt models) and the
        # day's features; on DuckDB its writes take turns with any dbt still running (freshness)
        # through the warehouse file's writer lock.
        monitor = MonitoringOperator(task_id="run", cadence="daily")
        # The day's HTML reports (tasks/reporting), read from what run just wrote; the log gives
        # their path and URL (the "ML reports" button in the UI's side bar).
        report = ReportOperator(task_id="report", cadence="daily")
        gx_outputs >> monitor >> report

    gx_raw >> models.roots
    gx_marts >> compute
    segments >> train
    # Scoring waits for all training so a run never scores with a half-updated registry.
    train >> score >> serving_models.roots
