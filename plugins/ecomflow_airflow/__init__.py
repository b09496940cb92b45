"""Airflow operators that wrap ecomflow's plain-Python task logic in ``tasks/``.

Importing this package is cheap: operators import ``tasks.*`` (pandas, torch,
pyspark, great_expectations) only inside ``execute`` so DAG parsing stays fast.
"""
