#!/usr/bin/env bash
# Evaluation tables for every model vs its baselines on synthetic S (and M with EVAL_M=1) and the
# two real data sets in ../shared/data. Each data set goes through the same DAGs as `make run`
# (scripts/run_pipeline.sh, skipped when its home already holds a finished run), then
# `ecomflow evaluate` trains each applicable model on the plan's daily partition and prints
# model vs each baseline on the same time-based holdout (also written to ml.evaluations).
set -euo pipefail
cd "$(dirname "$0")/.."
root="${EVAL_ROOT:-$PWD/.ecomflow-eval}"
report="$root/evaluation.md"
mkdir -p "$root"
datasets=("synthetic-S|synthetic|S|" "uci_online_retail|uci_online_retail|S|0.25"
          "online_shoppers|tasks/ingest/mappings/online_shoppers_intention.yml|S|")
if [ "${EVAL_M:-0}" = "1" ]; then datasets+=("synthetic-M|synthetic|M|"); fi
: > "$report"
for spec in "${datasets[@]}"; do
  IFS='|' read -r label source size max_share <<<"$spec"
  home="$root/$label"
  # UCI Online Retail has whole invoices with unit price 0 (stock adjustments): on 2010-12-22,
  # 64 of 291 lines. They are quarantined with their reason; the per-day limit is raised for
  # this source only so the rest of the day still loads.
  export ECOMFLOW_HOME="$home" ECOMFLOW_SOURCE="$source" ECOMFLOW_SYNTHETIC_SIZE="$size"
  if [ -n "$max_share" ]; then export ECOMFLOW_QUARANTINE_MAX_SHARE="$max_share"; else unset ECOMFLOW_QUARANTINE_MAX_SHARE; fi
  unset AIRFLOW_HOME
  if [ ! -f "$home/.pipeline-ok" ]; then
    echo "== $label: running the DAGs (scripts/run_pipeline.sh), log $home.pipeline.log"
    mkdir -p "$home"
    scripts/run_pipeline.sh >"$home.pipeline.log" 2>&1 || { tail -40 "$home.pipeline.log"; exit 1; }
    touch "$home/.pipeline-ok"
  fi
  echo "== $label: evaluating"
  (source scripts/env.sh && ecomflow evaluate --label "$label") | tee -a "$report"
done
echo "== evaluation tables written to $report"
