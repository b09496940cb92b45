#!/usr/bin/env bash
# Initialise the local Airflow metadata DB (SQLite under $AIRFLOW_HOME) and the gpu pool.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$AIRFLOW_HOME"
if [ ! -f "$AIRFLOW_HOME/.initialised" ]; then
  airflow db migrate >"$AIRFLOW_HOME/db_migrate.log" 2>&1 || { tail -30 "$AIRFLOW_HOME/db_migrate.log"; exit 1; }
  # Two trainings at once by default: on CPU torch each small model leaves part of the 2 cores
  # idle (data loading, evaluation, registry writes), and the daily run's train group went from
  # ~36 s to ~23 s on S (daily DAG 111 -> 97 s). With one GPU set ECOMFLOW_TRAIN_SLOTS=1, as
  # docker-compose does for its CUDA worker. An existing pool keeps its size: `airflow pools set gpu N`.
  airflow pools set gpu "${ECOMFLOW_TRAIN_SLOTS:-2}" "Training slots: models that train at once (GPU/CPU)" >/dev/null
  touch "$AIRFLOW_HOME/.initialised"
fi
