# Sourced by the Makefile targets and scripts: the local embedded environment.
# Everything lives under $ECOMFLOW_HOME (default ./.ecomflow, git-ignored).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ECOMFLOW_HOME="${ECOMFLOW_HOME:-$REPO_ROOT/.ecomflow}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ECOMFLOW_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE="${AIRFLOW__CORE__UNIT_TEST_MODE:-False}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export PYTHONPATH="$REPO_ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$REPO_ROOT/.venv/bin:$PATH"
export PYSPARK_PYTHON="$REPO_ROOT/.venv/bin/python"
