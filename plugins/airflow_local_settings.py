"""Airflow local settings, imported by every Airflow process at start (plugins/ is on PYTHONPATH).

Only one thing here: in the scheduler of a LocalExecutor deployment, import the task libraries
once before workers fork (``tasks/preload.py``; opt-in with ``ECOMFLOW_PRELOAD_TASK_LIBS=1``).
"""

from tasks.preload import preload

preload()
