# ecomflow — every command a developer or CI needs. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTEST_ARGS ?=
# Tests run on this many pytest-xdist workers; 0 = one process (per-test PostgreSQL leak check names the test)
TEST_WORKERS ?= 2

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup:  ## create/refresh .venv from constraints.txt (idempotent)
	@scripts/setup_env.sh

run: setup  ## set up, start a local Airflow, run ecomflow_daily + 6 hours of ecomflow_hourly on DuckDB, print summary + UI login
	@scripts/run_pipeline.sh

ui: setup  ## print the local Airflow UI address and login (starts the services if they are not running)
	@scripts/airflow_init.sh && source scripts/env.sh && ecomflow airflow ui

stop:  ## stop the local Airflow and Spark Connect services `make run` / `make ui` started (by PID)
	@if [ -x .venv/bin/ecomflow ]; then source scripts/env.sh && ecomflow airflow stop; fi

run-m: setup  ## same as run on the M synthetic data set (~50k users, 5k items, 90 days)
	@ECOMFLOW_SYNTHETIC_SIZE=M ECOMFLOW_HOME=$${ECOMFLOW_HOME:-$(CURDIR)/.ecomflow-m} scripts/run_pipeline.sh

test: setup  ## set up and run the whole test suite (lint + unit + dbt + GX + Spark + torch + e2e on DuckDB and PostgreSQL + headless-browser UI) on TEST_WORKERS (2) xdist workers
	@scripts/ensure_postgres.sh
	@scripts/install_browser.sh
	@source scripts/env.sh && ruff check . && pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

test-random: setup  ## the whole suite in a random order (pytest-randomly; replay one order: PYTEST_ARGS=--randomly-seed=N)
	@scripts/ensure_postgres.sh
	@scripts/install_browser.sh
	@source scripts/env.sh && ruff check . && pytest -n $(TEST_WORKERS) --dist worksteal -p randomly $(PYTEST_ARGS)

evaluate: setup  ## model vs baselines tables on synthetic S (EVAL_M=1 adds M), UCI Online Retail, Online Shoppers, the issue-14 data shapes
	@scripts/evaluate.sh

docs: setup  ## dbt docs site of the warehouse `make run` built, as one offline HTML file (path printed)
	@source scripts/env.sh && ecomflow docs

rollback: setup  ## re-activate the previous champion and re-score: make rollback MODEL=recommender
	@source scripts/env.sh && ecomflow rollback $(MODEL)

lint: setup  ## ruff
	@source scripts/env.sh && ruff check .

dag-test: setup  ## run one DAG locally: make dag-test DAG=ecomflow_daily DATE=2026-02-28
	@scripts/airflow_init.sh && source scripts/env.sh && airflow dags test $(DAG) $(DATE)

bench: setup  ## every benchmarks/ script at a size that fits ~20 min on 2 cores, one after another, printing their tables
	@scripts/ensure_postgres.sh
	@source scripts/env.sh && export PYTHONPATH=$(CURDIR) && rc=0 && lake=$$(mktemp -d) && for cmd in \
	  "dag_parse.py --repeat 3" \
	  "dbt_tasks.py --rounds 1" \
	  "historical_load.py --baseline-days 20" \
	  "feature_jobs.py --repeats 1" \
	  "spark_jvm.py --repeats 1 --home $$lake" \
	  "gx_gate.py --repeats 3 --home $$lake" \
	  "inventory_policy.py --size S" \
	  "recommender_compare.py --seeds 0" \
	  "training_devices.py --scale 1 --devices cpu" \
	  "training_throughput.py --chunks 2000 --sessions 20000 --repeat 1" \
	  "scoring_precision.py --rows 50000 --repeat 3 --device cpu" \
	  "warehouse_writes.py --rows 1000000 --baseline-rows 20000" \
	  "warehouse_session.py" \
	  "topk_scoring.py --users 50000 --items 5000 --dim 64 --repeat 2" \
	  "local_stack.py --rounds 1"; do \
	  echo "== python benchmarks/$$cmd"; start=$$SECONDS; \
	  python benchmarks/$$cmd || { rc=1; echo "!! benchmarks/$$cmd failed"; }; \
	  echo "== $$((SECONDS - start)) s"; done; exit $$rc

lock:  ## regenerate constraints.txt from the current .venv
	@.venv/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean: stop  ## stop the local services, remove local state (warehouse, lake, artefacts, Airflow DB)
	rm -rf .ecomflow .ecomflow-m .ecomflow-eval

.PHONY: help setup run ui stop run-m test test-random lint dag-test lock clean evaluate rollback docs bench
