"""A served scikit-learn baseline is stored with skops and loaded back in a task process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: In a fresh interpreter (skops not imported yet), with Airflow's deprecated-attribute shims
#: loaded as in every task process: save a fitted estimator, load it back, count the warnings.
_ROUND_TRIP = """
import sys, warnings
from pathlib import Path
import airflow.utils.timezone, airflow.utils.trigger_rule, airflow.serialization.serde  # noqa: F401
import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from tasks.train.gbt_baseline import load_estimator, save_estimator
x = np.random.default_rng(0).normal(size=(200, 3))
y = (x[:, 0] > 0).astype(int)
model = HistGradientBoostingClassifier(max_iter=5).fit(x, y)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    stored = save_estimator(model, Path(sys.argv[1]))
    loaded = load_estimator(Path(sys.argv[1]), stored)
assert stored["format"] == "skops", stored
assert (loaded.predict_proba(x) == model.predict_proba(x)).all()
print("warnings", len(caught), sorted({type(w.message).__name__ for w in caught}))
"""


def test_storing_a_baseline_in_a_task_process_writes_no_warnings(tmp_path: Path) -> None:
    """skops looks up every scipy ufunc in every loaded module when it is first imported; in an
    Airflow task each lookup on one of Airflow's deprecated modules warned, 1,160 lines in the
    task log of one scoring task. The estimator round-trips and the log stays clean."""
    proc = subprocess.run([sys.executable, "-c", _ROUND_TRIP, str(tmp_path / "artefact")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "warnings 0 []", proc.stdout[-2000:]
