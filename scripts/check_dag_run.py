"""Exit non-zero unless the latest run of a DAG has task instances and none failed.

`airflow dags test` exits 0 for a run that created no tasks (e.g. a logical date before the
DAG's start_date); this makes `make run` notice. Skipped tasks are fine (a source without
input for that step); the summary lists them.
"""

import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

dag_id = sys.argv[1]
db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
with sqlite3.connect(db) as conn:
    rows = conn.execute(
        "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = "
        "(SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1)", (dag_id, dag_id)
    ).fetchall()
states = Counter(state for _, state in rows)
print(f"   {dag_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
skipped = sorted(t for t, s in rows if s == "skipped")
if skipped:
    print(f"   skipped (no input for them in this source; reasons in the task logs): {', '.join(skipped)}")
if not rows or set(states) - {"success", "skipped"}:
    sys.exit(f"{dag_id}: run did not complete: {dict(states) or 'no task instances'}")
