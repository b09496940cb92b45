#!/usr/bin/env bash
# Create/refresh the project virtualenv from the committed constraints file.
# Idempotent: does nothing when pyproject.toml and constraints.txt are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=".venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip wheel "setuptools>=68"
# torch first and exactly pinned: its CPU wheel comes from pip's configured find-links;
# any other torch would pull gigabytes of CUDA packages.
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -c constraints.txt -e ".[dev]"
rm -f .venv/.installed-*
touch "$stamp"
echo "environment ready: $(.venv/bin/python --version), $(.venv/bin/airflow version 2>/dev/null | tail -1) airflow"
