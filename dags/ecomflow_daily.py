"""
### ecomflow_daily — the daily ML data product run

**What it does** (one daily partition `dt = data_interval_start`, as-of instant = end of that day):

1. `ingest` lands every entity of the configured source (`ECOMFLOW_SOURCE`) for the day into
   `lake/landing`, `lake/raw` and `raw.*`; bad rows go to `audit.quarantine`, one row per load to
   `audit.load_log` (rows in = accepted + quarantined).
2. `gx_raw` — Great Expectations checkpoints on the raw partition (gate).
3. `dbt_build_marts` — `dbt build` staging → intermediate → marts (models + dbt tests).
4. `gx_marts` — checkpoints on the marts.
5. `features.compute` — one spark-submit computes every feature set as of the end of the day
   (point-in-time; one JVM per run); `features.<set>` publishes each set to `features.*`.
6. `gx_features` — checkpoints on the feature partition; then `features.user_segments` clusters
   the day's user profiles (K-means, `features.user_segments`): a model feature and the
   recommender's cold-start fallback.
7. `train.*` — train each model when due (or when none exists) in the `gpu` pool; promote only
   when it beats the champion.
8. `score.*` — recommendations and demand forecasts with the champion → `serving.*` (partition replace).
9. `dbt_build_serving` then `gx_outputs` — BI serving models and output checks; `grant_bi_reader`
   keeps the PostgreSQL role `bi_reader` (BI tools) able to read `serving` and nothing else.

**Skipped (pink) tasks are expected** when the configured source has no input for a step, e.g. no
payments for the risk model with a clickstream-only source; the task log says which `raw.*`
table was empty (`tasks/applicability.py`). Skips never block later steps; failures do.

**When it fails**: open the failed task's log. GX failures print the Data Docs path
(`$ECOMFLOW_HOME/gx/...`) with the failing expectations; ingestion failures name file, row and
column, and quarantined rows are in `audit.quarantine` for this `dt`. Every task replaces exactly
its partition, so after fixing the cause simply *Clear* the failed task (or the run) to re-run it;
nothing is duplicated and the previous good data stays readable until the new data is published.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, Param
from ecomflow_airflow.operators import (
    DbtBuildOperator,
    GrantBIAccessOperator,
    GXCheckpointOperator,
    IngestPartitionOperator,
    PublishFeatureSetOperator,
    ScoreOperator,
    SparkFeatureSetsOperator,
    TrainModelOperator,
    UserSegmentsOperator,
)

DAILY_FEATURE_JOBS = ("user_profile", "item_features", "session_features", "transaction_velocity",
                      "daily_item_sales")
MODELS = ("recommender", "session_intent", "demand_forecaster", "risk")
DAILY_SCORERS = ("recommendations", "demand_forecasts")

with DAG(
    dag_id="ecomflow_daily",
    description="Daily ingest → dbt → GX → Spark features → train → score → serving",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    # Far in the past so any historical partition (real data sets reach back years) can be run
    # or back-filled: Airflow creates no tasks for a run before start_date. catchup=False keeps
    # the scheduler from back-running by itself.
    start_date=datetime(2000, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=2,
    doc_md=__doc__,
    tags=["ecomflow", "daily", "ml"],
    params={"force_train": Param(False, type="boolean", description="Retrain every model even if not due")},
    default_args={
        "owner": "data-platform",
        # A step skipped because the source has no input for it (see tasks/applicability.py)
        # must not skip everything after it; a failure still stops everything downstream.
        "trigger_rule": "none_failed",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(hours=2),
    },
) as dag:
    ingest = IngestPartitionOperator(task_id="ingest", cadence="daily")
    gx_raw = GXCheckpointOperator(task_id="gx_raw", cadence="daily", scope="ingest",
                                  # nothing to check when the source had nothing to ingest
                                  trigger_rule="all_success",
                                  suites=["raw_users", "raw_products", "raw_events", "raw_order_lines",
                                          "raw_transactions", "audit_load_log"])
    dbt_marts = DbtBuildOperator(task_id="dbt_build_marts", select=["staging", "intermediate", "marts"])
    gx_marts = GXCheckpointOperator(task_id="gx_marts", cadence="daily", scope="table",
                                    suites=["marts_dim_users", "marts_dim_products", "marts_fct_events",
                                            "marts_fct_order_lines", "marts_fct_transactions",
                                            "marts_fct_session_summaries", "marts_fct_daily_item_sales"])
    # One Spark application computes every feature set of the run (JVM start-up dominated one
    # submit per set); each set is then published to the warehouse by its own task.
    compute = SparkFeatureSetsOperator(task_id="features.compute", cadence="daily", jobs=DAILY_FEATURE_JOBS)
    features = [PublishFeatureSetOperator(task_id=f"features.{job}", cadence="daily", job=job)
                for job in DAILY_FEATURE_JOBS]
    compute >> features
    gx_features = GXCheckpointOperator(task_id="gx_features", cadence="daily", scope="as_of",
                                       suites=[f"features_{job}" for job in DAILY_FEATURE_JOBS])
    segments = UserSegmentsOperator(task_id="features.user_segments", cadence="daily")
    train = [TrainModelOperator(task_id=f"train.{model}", model=model) for model in MODELS]
    score = [ScoreOperator(task_id=f"score.{scorer}", cadence="daily", scorer=scorer)
             for scorer in DAILY_SCORERS]
    dbt_serving = DbtBuildOperator(task_id="dbt_build_serving", select=["serving"])
    gx_outputs = GXCheckpointOperator(task_id="gx_outputs", cadence="daily", scope="as_of",
                                      suites=["serving_recommendations", "serving_demand_forecasts"])

    ingest >> gx_raw >> dbt_marts >> gx_marts >> compute
    features >> gx_features >> segments >> train
    # Scoring waits for all training so a run never scores with a half-updated registry.
    for train_task in train:
        train_task >> score
    grant_bi = GrantBIAccessOperator(task_id="grant_bi_reader")
    score >> dbt_serving >> [gx_outputs, grant_bi]
