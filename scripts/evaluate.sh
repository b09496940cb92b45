#!/usr/bin/env bash
# Evaluation tables for every model vs its baselines on synthetic S (and M with EVAL_M=1) and the
# two real data sets in ../shared/data. Each data set goes through the same DAGs as `make run`
# (scripts/run_pipeline.sh, skipped when its home already holds a finished run), then
# `ecomflow evaluate` trains each applicable model on the plan's daily partition and prints
# model vs each baseline on the same time-based holdout (also written to ml.evaluations).
# The four issue-14 data shapes (tests/scenarios) run too. EVAL_ONLY=label1,label2 runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${EVAL_ROOT:-$PWD/.ecomflow-eval}"
report="$root/evaluation.md"
mkdir -p "$root"
datasets=("synthetic-S|synthetic|S|" "uci_online_retail|uci_online_retail|S|0.25"
          "online_shoppers|tasks/ingest/mappings/online_shoppers_intention.yml|S|")
if [ "${EVAL_M:-0}" = "1" ]; then datasets+=("synthetic-M|synthetic|M|"); fi
# The issue-14 data shapes (tests/scenarios/generators.py), larger than in the test command:
# label|generator arguments. Their data and mapping are written under $root/<label>.data.
scenarios=("scenario-clickstream|clickstream users=400 items=800 days=14 affinity=0.6"
           "scenario-wide_panel|wide_panel items=8 years=2"
           "scenario-weekly_sales|weekly_sales stores=4 depts=5 weeks=80"
           "scenario-card_transactions|card_transactions n=6000")
for spec in "${scenarios[@]}"; do
  IFS='|' read -r label args <<<"$spec"
  read -r name _ <<<"$args"
  if [ ! -f "$root/$label.data/$name.yml" ]; then
    (source scripts/env.sh && python -m tests.scenarios.generators ${args%% *} "$root/$label.data" ${args#* })
  fi
  datasets+=("$label|$root/$label.data/$name.yml|S|")
done
if [ -z "${EVAL_ONLY:-}" ]; then : > "$report"; fi  # EVAL_ONLY appends
for spec in "${datasets[@]}"; do
  IFS='|' read -r label source size max_share <<<"$spec"
  if [ -n "${EVAL_ONLY:-}" ] && [[ ",$EVAL_ONLY," != *",$label,"* ]]; then continue; fi
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
