#!/usr/bin/env bash
# The main job on the embedded default: generate/load data, load history, then run the daily
# DAG and the hourly DAG with `airflow dags test`, and print where the outputs are.
set -euo pipefail
source "$(dirname "$0")/env.sh"
"$(dirname "$0")/airflow_init.sh"
start=$(date +%s)
echo "== ecomflow: source=${ECOMFLOW_SOURCE:-synthetic} size=${ECOMFLOW_SYNTHETIC_SIZE:-S} home=$ECOMFLOW_HOME"
eval "$(ecomflow plan --format shell)"
echo "== historical load of partitions before $DAILY_PARTITION"
ecomflow backfill-ingest --until "$DAILY_PARTITION"
echo "== airflow dags test ecomflow_daily $DAILY_LOGICAL_DATE  (data interval = day $DAILY_PARTITION)"
airflow dags test ecomflow_daily "$DAILY_LOGICAL_DATE" >"$ECOMFLOW_HOME/daily_run.log" 2>&1 \
  || { tail -60 "$ECOMFLOW_HOME/daily_run.log"; echo "daily DAG failed; full log: $ECOMFLOW_HOME/daily_run.log"; exit 1; }
python "$(dirname "$0")/check_dag_run.py" ecomflow_daily
ecomflow backfill-ingest --since "${HOURLY_PARTITION%T*}T00" --until "$HOURLY_PARTITION"
echo "== airflow dags test ecomflow_hourly $HOURLY_LOGICAL_TS  (data interval = hour $HOURLY_PARTITION)"
airflow dags test ecomflow_hourly "$HOURLY_LOGICAL_TS" >"$ECOMFLOW_HOME/hourly_run.log" 2>&1 \
  || { tail -60 "$ECOMFLOW_HOME/hourly_run.log"; echo "hourly DAG failed; full log: $ECOMFLOW_HOME/hourly_run.log"; exit 1; }
python "$(dirname "$0")/check_dag_run.py" ecomflow_hourly
ecomflow summary
echo "== wall time: $(( $(date +%s) - start )) s (logs: $ECOMFLOW_HOME/daily_run.log, $ECOMFLOW_HOME/hourly_run.log)"
