"""
### ecomflow_retrain — weekly (and on-demand) challenger training with a promotion gate

**What it does** (weekly on Monday 04:00 UTC, after the Sunday daily run; on a monitoring retrain
request; or triggered by hand):

1. `retrain.<model>` — trains a challenger for each model on data up to the end of the data
   interval (or the `as_of_date` param), evaluates it on the same time-based holdout as the
   current champion and the baselines, and promotes it only when it wins by
   `ECOMFLOW_PROMOTION_MARGIN` and passes the sanity checks. When the champion changed, the latest
   serving partition of that model's scorer is re-scored in the same task.
2. Every decision (promoted / kept champion / rejected by sanity checks) is a row in
   `ml.promotion_log`; metrics vs every baseline are in `ml.evaluations`.
3. `serving.<model>` — one task per dbt serving model rebuilds the BI serving models (each with
   its tests), so a re-scored partition reaches BI at once.

**On a retrain request** from monitoring: `ecomflow_daily`'s `monitoring.run` emits an event on
the asset `ecomflow://monitoring/retrain_request` when a model breached its thresholds
(`tasks/monitoring/thresholds.yml`; the request and its reason are a `retrain_requested` row in
`ml.promotion_log`). Such a run retrains only the models the event names, on data up to the end
of the day that breached; the others are skipped.

**On demand**: *Trigger DAG w/ config* with `{"as_of_date": "2026-02-28", "models": ["risk"]}`.
**Rollback**: `ecomflow rollback <model>` re-activates the previous champion and re-scores.

**When it fails**: a failed training never changes the champion or the serving tables; read the
task log (it names the data window and the failing step), fix the cause and *Clear* the task.
A skipped task means the source has no input for that model (`tasks/applicability.py`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, TaskGroup
from ecomflow_airflow.assets import champion_asset, retrain_request_asset
from ecomflow_airflow.dbt_tasks import dbt_model_tasks
from ecomflow_airflow.notifiers import failure_callbacks
from ecomflow_airflow.operators import RetrainModelOperator

from tasks import pipeline_catalogue as catalogue

with DAG(
    dag_id="ecomflow_retrain",
    description="Weekly challenger training, promotion gate and re-scoring",
    # Weekly, or whenever monitoring requests a retrain (either one starts a run).
    schedule=AssetOrTimeSchedule(timetable=CronDataIntervalTimetable("0 4 * * 1", timezone="UTC"),
                                 assets=[retrain_request_asset()]),
    start_date=datetime(2000, 1, 1),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    doc_md=__doc__,
    tags=["ecomflow", "weekly", "ml", "training"],
    params={
        "as_of_date": Param(None, type=["null", "string"], format="date",
                            description="Train on data before this date (default: end of the interval)"),
        "models": Param([], type="array", description="Models to retrain (default: all)"),
    },
    default_args={
        "owner": "data-platform",
        "on_failure_callback": failure_callbacks(),  # alerts: off until an alert connection exists
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=3),
    },
) as dag:
    with TaskGroup("retrain", tooltip="Challenger per model; promoted only when it wins") as retrain:
        for model in catalogue.models():
            RetrainModelOperator(task_id=model, model=model, outlets=[champion_asset(model)],
                                 inlets=[retrain_request_asset()])
    with TaskGroup("serving", tooltip="Rebuild the BI serving models after any re-scoring"):
        # Runs after every retrain task whatever its outcome (a skipped or rejected challenger
        # changes nothing, and a rebuild is idempotent).
        serving_models = dbt_model_tasks(["serving"], nest=False, skip_unless_table="marts.fct_events",
                                         root_trigger_rule="all_done")
    retrain >> serving_models.roots
