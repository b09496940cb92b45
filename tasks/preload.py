"""Import the libraries tasks use once, in the process that forks the task processes.

Airflow 3's LocalExecutor forks its workers from the scheduler and each task process from a
worker, so modules imported in the scheduler are already in every task (copy-on-write) instead
of being imported again per task: Great Expectations alone takes ~5 s to import on 2 cores, torch
and scikit-learn ~2 s each, and a daily run has about twenty tasks. Only imports happen here: no
threads, no CUDA initialisation, no connections, so forking afterwards stays safe.

Enabled by ``ECOMFLOW_PRELOAD_TASK_LIBS=1`` in the environment of the process that forks the task
processes: the scheduler under LocalExecutor (``make run`` sets it), the Celery workers in
docker-compose (their prefork children and each task process inherit the imports);
plugins/airflow_local_settings.py calls ``preload``). The variable is removed afterwards so the
tasks' own children (dbt, spark-submit) do not preload again.
"""

from __future__ import annotations

import importlib
import logging
import os
import time

log = logging.getLogger(__name__)

#: Heavy third-party libraries first, then the ecomflow modules whose imports pull them in.
#: Not scikit-learn: a task forked from a process that imported it runs scikit-learn's OpenMP code
#: (HistGradientBoosting, the risk and session-intent baselines) several times slower: training
#: the risk model in a forked child took 118-203 s after preloading it vs 21-23 s without (2 cores,
#: same data, OMP_NUM_THREADS=2; 13 s with OMP_NUM_THREADS=1, i.e. the OpenMP thread team is what
#: suffers). Train tasks import it themselves (~1 s).
NOT_PRELOADED = ("sklearn",)
MODULES = (
    "pandas", "pyarrow", "duckdb", "sqlalchemy", "numpy", "torch",
    # torch.optim imports torch._dynamo at the first optimizer (~1 s per training task, 8 s of a
    # daily run's CPU in py-spy); duckdb_engine at the first warehouse connection of each task.
    "torch._dynamo", "duckdb_engine",
    "great_expectations", "tasks.quality.gx_runner", "tasks.quality.pipeline_checks",
    "tasks.ingest.load", "tasks.features.pipeline", "tasks.train.pipeline", "tasks.score.pipeline",
    # monitoring.report's charts (tasks/reporting/charts.py renders SVG with these)
    "matplotlib.figure", "matplotlib.backends.backend_svg", "tasks.reporting.build",
)
FLAG = "ECOMFLOW_PRELOAD_TASK_LIBS"


def preload(modules: tuple[str, ...] = MODULES) -> dict[str, float]:
    """Import ``modules`` when the flag is set; returns seconds per module (empty when off).

    A module that fails to import is skipped with a warning: the task that needs it will raise
    the real error in its own log.
    """
    if os.environ.pop(FLAG, "") != "1":
        return {}
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    took: dict[str, float] = {}
    for name in modules:
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - an optional speed-up must never stop the scheduler
            log.warning("preload of %s failed (the task will import it itself): %s", name, exc)
            continue
        took[name] = round(time.perf_counter() - start, 2)
    log.info("preloaded task libraries in %.1f s: %s", sum(took.values()), took)
    return took
