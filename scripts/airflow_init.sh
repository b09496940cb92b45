#!/usr/bin/env bash
# Initialise the local Airflow metadata DB (SQLite under $AIRFLOW_HOME) and the gpu pool.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$AIRFLOW_HOME"
if [ ! -f "$AIRFLOW_HOME/.initialised" ]; then
  airflow db migrate >"$AIRFLOW_HOME/db_migrate.log" 2>&1 || { tail -30 "$AIRFLOW_HOME/db_migrate.log"; exit 1; }
  airflow pools set gpu 1 "Training slots: one model trains at a time on the GPU/CPU" >/dev/null
  touch "$AIRFLOW_HOME/.initialised"
fi
