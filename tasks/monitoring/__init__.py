"""Monitoring: is the data or a model going bad? (issue 11; docs/monitoring.md)

- ``pipeline_runs``: rows in/out, quarantined share and duration per task and partition;
- ``realised``: served outputs scored against what happened once the truth is known;
- ``drift`` (+ ``drift_statistics``, ``reference_profile``): inputs and outputs against the
  reference stored at training time;
- ``run.run_monitoring(partition)``: all of it for a daily partition (``python -m tasks.monitoring``).

The tables (declared in ``tasks/contracts/operations_schema.py``) are the source of truth; every
write replaces a partition.
No Airflow imports here.
"""
