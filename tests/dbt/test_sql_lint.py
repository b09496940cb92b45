"""sqlfluff over the dbt models (STYLE.md: linters settle SQL style), offline via the jinja templater."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.transform.dbt_runner import DBT_PROJECT_DIR


def test_models_pass_sqlfluff() -> None:
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    proc = subprocess.run(
        [str(sqlfluff), "lint", "models", "--disable-progress-bar"],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
