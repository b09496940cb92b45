"""DAG parse time: each ecomflow DAG file vs a one-task baseline DAG, imported in fresh interpreters.

Run: `.venv/bin/python benchmarks/dag_parse.py [--repeat 5]`. Prints a table of median parse
times and the ratio to the baseline measured in the same run. Airflow itself is imported before
timing, as in the DAG processor; what is timed is the DAG file's own import (for ecomflow_daily
that includes reading the dbt model graph, tasks/transform/dbt_graph.py, and building one task
per dbt model). To compare with an older version: `git worktree add /tmp/old <commit>` and pass
`--dags /tmp/old/dags --plugins /tmp/old/plugins`.
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


def parse_seconds(path: Path, plugins: Path) -> float:
    code = TIMER.format(plugins=str(plugins), path=str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return float([line for line in out.stdout.splitlines() if line.startswith("ELAPSED")][-1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dags", type=Path, default=REPO / "dags", help="folder of the DAG files to time")
    parser.add_argument("--plugins", type=Path, default=REPO / "plugins", help="plugins folder they import from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline_file = Path(tmp) / "baseline_dag.py"
        baseline_file.write_text(BASELINE)
        files = [("baseline (1-task DAG)", baseline_file)] + [
            (p.name, p) for p in sorted(args.dags.glob("ecomflow_*.py"))]
        # Interleaved (one round over every file, repeated) so load from other processes hits all alike.
        times: dict[str, list[float]] = {name: [] for name, _ in files}
        for _ in range(args.repeat):
            for name, path in files:
                times[name].append(parse_seconds(path, args.plugins))
        medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["baseline (1-task DAG)"]
    print(f"{'DAG file':<26}{'median parse (ms)':>20}{'ratio vs baseline':>20}")
    for name, seconds in medians.items():
        print(f"{name:<26}{seconds * 1000:>20.1f}{seconds / base:>20.2f}")


if __name__ == "__main__":
    main()
