"""
### ecomflow_hourly — near-real-time risk and purchase-intent scoring

**What it does** (one hourly partition `dt/hr = data_interval_start`):

1. `ingest` lands the hour's events, order lines and transactions (`lake/raw/.../dt=/hr=`, `raw.*`).
2. `gx_raw` — checkpoints on the hour's raw partition.
3. `features.compute` — one spark-submit computes both sets, per-row point-in-time features
   (each row sees only data strictly before itself); `features.session_features` and
   `features.transaction_velocity` publish them.
4. `gx_features` — checkpoints on the hour's features.
5. `score.session_intent`, `score.risk_labels` — champion models → `serving.session_intent` and
   `serving.risk_labels` for this hour (partition replace). Risk falls back to documented rules
   (`model_version = rules-v1`) when no risk model is trained (e.g. a source without fraud labels).
6. `gx_outputs` — checks on the hour's outputs.

**Skipped (pink) tasks are expected** when the configured source has no input for a step, e.g. no
payments for the risk model with a clickstream-only source; the task log says which `raw.*`
table was empty (`tasks/applicability.py`). Skips never block later steps; failures do.

**When it fails**: the intent scorer needs a champion trained by `ecomflow_daily`; run that first.
Otherwise read the failed task's log (GX prints the Data Docs path) and *Clear* the task: every
task replaces exactly its hour, so re-runs never duplicate rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronDataIntervalTimetable
from ecomflow_airflow.operators import (
    GXCheckpointOperator,
    IngestPartitionOperator,
    PublishFeatureSetOperator,
    ScoreOperator,
    SparkFeatureSetsOperator,
)

HOURLY_FEATURE_JOBS = ("session_features", "transaction_velocity")
HOURLY_SCORERS = ("session_intent", "risk_labels")

with DAG(
    dag_id="ecomflow_hourly",
    description="Hourly ingest → features → risk and session-intent scoring",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    # Far in the past so any historical partition (real data sets reach back years) can be run
    # or back-filled: Airflow creates no tasks for a run before start_date. catchup=False keeps
    # the scheduler from back-running by itself.
    start_date=datetime(2000, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=2,
    doc_md=__doc__,
    tags=["ecomflow", "hourly", "ml"],
    default_args={
        "owner": "data-platform",
        # A step skipped because the source has no input for it (see tasks/applicability.py)
        # must not skip everything after it; a failure still stops everything downstream.
        "trigger_rule": "none_failed",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "execution_timeout": timedelta(minutes=45),
    },
) as dag:
    ingest = IngestPartitionOperator(task_id="ingest", cadence="hourly")
    gx_raw = GXCheckpointOperator(task_id="gx_raw", cadence="hourly", scope="ingest",
                                  # nothing to check when the source had nothing to ingest
                                  trigger_rule="all_success",
                                  suites=["raw_events", "raw_transactions", "audit_load_log"])
    # One Spark application computes every feature set of the run (JVM start-up dominated one
    # submit per set); each set is then published to the warehouse by its own task.
    compute = SparkFeatureSetsOperator(task_id="features.compute", cadence="hourly", jobs=HOURLY_FEATURE_JOBS)
    features = [PublishFeatureSetOperator(task_id=f"features.{job}", cadence="hourly", job=job)
                for job in HOURLY_FEATURE_JOBS]
    compute >> features
    gx_features = GXCheckpointOperator(task_id="gx_features", cadence="hourly", scope="as_of",
                                       suites=[f"features_{job}" for job in HOURLY_FEATURE_JOBS])
    score = [ScoreOperator(task_id=f"score.{scorer}", cadence="hourly", scorer=scorer)
             for scorer in HOURLY_SCORERS]
    gx_outputs = GXCheckpointOperator(task_id="gx_outputs", cadence="hourly", scope="as_of",
                                      suites=["serving_session_intent", "serving_risk_labels"])

    ingest >> gx_raw >> compute
    features >> gx_features >> score
    for score_task in score:
        score_task >> gx_outputs
