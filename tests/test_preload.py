"""The scheduler's preload (tasks/preload.py) must not import what makes forked tasks slow.

Measured (tasks/preload.py): after preloading scikit-learn, risk training in a forked child took
118-203 s instead of 21-23 s, because scikit-learn's OpenMP code runs badly in a process forked
from one that imported it. This checks the mechanism (nothing in ``NOT_PRELOADED`` is imported by
a preload), not a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_preload_imports_the_task_libraries_but_not_scikit_learn() -> None:
    code = (
        "import json, sys\n"
        "from tasks.preload import NOT_PRELOADED, preload\n"
        "took = preload()\n"
        "print(json.dumps({'took': sorted(took), 'bad': sorted(m for m in sys.modules\n"
        "    if m.split('.')[0] in NOT_PRELOADED)}))\n"
    )
    env = {**os.environ, "ECOMFLOW_PRELOAD_TASK_LIBS": "1", "GX_ANALYTICS_ENABLED": "False"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"torch", "torch._dynamo", "duckdb_engine", "great_expectations", "tasks.train.pipeline"} <= set(found["took"]), found
    assert found["bad"] == [], f"preload imported {found['bad']}: forked training tasks get several times slower"
