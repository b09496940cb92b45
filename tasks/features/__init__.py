"""Point-in-time correct feature jobs (PySpark).

Raw lake Parquet -> pure transforms (one module per feature set) -> Parquet in
``lake/features/<set>/`` -> warehouse ``features.<set>``. See README.md here
and the "Spark features" section of docs/CONTRACTS.md.

Importing this package does not import pyspark (a DAG can read ``FEATURE_JOBS``
at parse time).
"""

from tasks.features.catalogue import FEATURE_JOBS, FeatureJob, Input, RunPoint, get_job

__all__ = ["FEATURE_JOBS", "FeatureJob", "Input", "RunPoint", "get_job"]
