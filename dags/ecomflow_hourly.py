"""
### ecomflow_hourly — near-real-time risk and purchase-intent scoring

**What it does** (one hourly partition `dt/hr = data_interval_start`), one task group per stage:

1. **ingest** — `load` lands the hour's events, order lines and transactions
   (`lake/raw/.../dt=/hr=`, `raw.*`); `gx_raw` gates the hour's raw partition.
2. **features** — `compute` computes the hourly feature sets with per-row point-in-time features
   (each row sees only data strictly before itself) in one Spark application; one task per set
   publishes it; `gx_features` gates them.
3. **score** — `session_intent` and `risk_labels`: champion models → `serving.session_intent` and
   `serving.risk_labels` for this hour (partition replace). Risk falls back to documented rules
   (`model_version = rules-v1`) when no risk model is trained (e.g. a source without fraud labels).
4. **serving** — one task per dbt serving model that reads the hour's scores (`risk_review_queue`,
   `daily_kpis`, `session_intent_enriched`, each with its tests) rebuilds it so BI is never more
   than one hour behind the scores (the models over daily outputs are rebuilt by the daily run);
   `gx_outputs` checks the hour's outputs. They skip until `ecomflow_daily` has built the marts.

Task lists come from the catalogues (`tasks/pipeline_catalogue.py`).

**Skipped (pink) tasks are expected** when the configured source has no input for a step, e.g. no
payments for the risk model with a clickstream-only source; the task log says which `raw.*`
table was empty (`tasks/applicability.py`). Skips never block later steps; failures do.

**When it fails**: the intent scorer needs a champion trained by `ecomflow_daily`; run that first.
Otherwise read the failed task's log (GX prints the Data Docs path) and *Clear* the task: every
task replaces exactly its hour, so re-runs never duplicate rows.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable, TaskGroup
from ecomflow_airflow.assets import champion_asset, feature_asset, serving_asset
from ecomflow_airflow.dag_defaults import partition_dag_kwargs
from ecomflow_airflow.dbt_tasks import dbt_model_tasks
from ecomflow_airflow.operators import (
    GXCheckpointOperator,
    IngestPartitionOperator,
    PublishFeatureSetOperator,
    ScoreOperator,
    SparkFeatureSetsOperator,
)

from tasks import pipeline_catalogue as catalogue

FEATURE_JOBS = catalogue.feature_jobs("hourly")

with DAG(
    dag_id="ecomflow_hourly",
    description="Hourly ingest → features → risk and session-intent scoring → BI serving",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    **partition_dag_kwargs(cadence="hourly", retry_delay=timedelta(minutes=1),
                           execution_timeout=timedelta(minutes=45)),
) as dag:
    with TaskGroup("ingest", tooltip="Land the hour's events, order lines and payments; gate them") as ingest:
        load = IngestPartitionOperator(task_id="load", cadence="hourly")
        gx_raw = GXCheckpointOperator(task_id="gx_raw", cadence="hourly", scope="ingest",
                                      # nothing to check when the source had nothing to ingest
                                      trigger_rule="all_success", suites=catalogue.raw_suites("hourly"))
        load >> gx_raw

    with TaskGroup("features", tooltip="Per-row point-in-time features for the hour, published and gated"):
        # One Spark application computes every feature set of the run; each set is then
        # published to the warehouse by its own task.
        compute = SparkFeatureSetsOperator(task_id="compute", cadence="hourly", jobs=FEATURE_JOBS)
        publish = [PublishFeatureSetOperator(task_id=job, cadence="hourly", job=job, outlets=[feature_asset(job)])
                   for job in FEATURE_JOBS]
        gx_features = GXCheckpointOperator(task_id="gx_features", cadence="hourly", scope="as_of",
                                           suites=catalogue.feature_suites("hourly"))
        compute >> publish >> gx_features

    with TaskGroup("score", tooltip="Champion models → serving.* for the hour (partition replace)") as score:
        for scorer in catalogue.scorers("hourly"):
            ScoreOperator(task_id=scorer, cadence="hourly", scorer=scorer, outlets=[serving_asset(scorer)],
                          inlets=[champion_asset(catalogue.scorer_model(scorer))])

    with TaskGroup("serving", tooltip="Rebuild the BI serving models that read the hour's scores") as serving:
        # Only the BI models over the hour's scores (and what reads them); the ones over daily
        # outputs (recommendations, forecasts, ...) did not change since the daily run.
        serving_models = dbt_model_tasks(["serving"], nest=False, skip_unless_table="marts.fct_events",
                                         reading=catalogue.serving_tables("hourly"))
        gx_outputs = GXCheckpointOperator(task_id="gx_outputs", cadence="hourly", scope="as_of",
                                          suites=catalogue.serving_suites("hourly"))
        serving_models.leaves >> gx_outputs

    ingest >> compute
    gx_features >> score >> serving_models.roots
