"""DAG parse time: each ecomflow DAG file vs a one-task baseline DAG, imported in fresh interpreters.

Run: `.venv/bin/python benchmarks/dag_parse.py [--repeat 5]`. Prints a table of median parse
times and the ratio to the baseline measured in the same run. Airflow itself is imported before
timing, as in the DAG processor; what is timed is the DAG file's own import.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASELINE = '''
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
with DAG("baseline", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    EmptyOperator(task_id="noop")
'''
TIMER = """
import sys, time, importlib.util
import airflow.sdk
from airflow.providers.standard.operators.empty import EmptyOperator
sys.path.insert(0, {plugins!r})
t = time.perf_counter()
spec = importlib.util.spec_from_file_location("m", {path!r})
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
print("ELAPSED", time.perf_counter() - t)
"""


def parse_seconds(path: Path) -> float:
    code = TIMER.format(plugins=str(REPO / "plugins"), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return float([line for line in out.stdout.splitlines() if line.startswith("ELAPSED")][-1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline_file = Path(tmp) / "baseline_dag.py"
        baseline_file.write_text(BASELINE)
        files = [("baseline (1-task DAG)", baseline_file)] + [
            (p.name, p) for p in sorted((REPO / "dags").glob("ecomflow_*.py"))]
        medians = {name: statistics.median(parse_seconds(p) for _ in range(args.repeat)) for name, p in files}
    base = medians["baseline (1-task DAG)"]
    print(f"{'DAG file':<26}{'median parse (ms)':>20}{'ratio vs baseline':>20}")
    for name, seconds in medians.items():
        print(f"{name:<26}{seconds * 1000:>20.1f}{seconds / base:>20.2f}")


if __name__ == "__main__":
    main()
