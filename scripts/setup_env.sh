#!/usr/bin/env bash
# Create/refresh the project virtualenv from the committed constraints file.
# Idempotent: does nothing when pyproject.toml and constraints.txt are unchanged.
# pip's own output (hundreds of find-links and build-backend warnings) goes to
# .venv/setup.log; the terminal gets a few lines, or the log's tail when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
log=.venv/setup.log

step() {  # step "what" cmd...: run quietly into the log, say what happened
  local what="$1"; shift
  printf 'setup: %s ... ' "$what"
  if "$@" >>"$log" 2>&1; then
    echo "ok"
  else
    echo "FAILED"
    echo "---- last lines of $log ----" >&2
    grep -v "^WARNING: Location '.*' is ignored" "$log" | tail -40 >&2
    exit 1
  fi
}

if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  : > "$log"
  step "pip, wheel, setuptools" .venv/bin/pip install -q --upgrade pip wheel "setuptools>=77"
  # torch first and exactly pinned: its CPU wheel comes from pip's configured find-links;
  # any other torch would pull gigabytes of CUDA packages.
  step "torch 2.13.0 (CPU wheel)" .venv/bin/pip install -q "torch==2.13.0"
  step "ecomflow and its pinned dependencies (constraints.txt)" \
    .venv/bin/pip install -q -c constraints.txt -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
  echo "setup: environment ready: $(.venv/bin/python --version), airflow $(.venv/bin/airflow version 2>/dev/null | tail -1) (pip log: $log)"
fi

# GX Data Docs load jQuery/Bootstrap/bootstrap-table/vega/Font Awesome from CDNs; local copies
# (npm pack, pinned in the module) make them open offline. Checked on its own, so an existing
# .venv gets them too and a deleted copy comes back.
if ! .venv/bin/python tasks/quality/data_docs_assets.py check; then
  step "GX Data Docs CSS/JS for offline use (npm)" .venv/bin/python tasks/quality/data_docs_assets.py fetch
fi

# The dbt model graph the DAG files read when parsed (one task per dbt model; a small JSON file
# derived from `dbt parse`, git-ignored under dbt_project/target/). The DAGs also regenerate it
# when the dbt project changed; generating it here keeps that seconds-long parse out of the
# first DAG parse of a fresh clone.
if ! .venv/bin/python -m tasks.transform.dbt_graph --check; then
  step "dbt model graph for the DAGs (dbt parse)" .venv/bin/python -m tasks.transform.dbt_graph
fi
