"""From a DAG partition to published feature sets: spark-submit, then publish.

The DAGs compute all of a run's feature sets in one spark-submit (``compute_feature_sets``,
``SparkFeatureSetsOperator``: one JVM per run instead of one per set) and publish each set to
the warehouse in its own task (``publish``, ``PublishFeatureSetOperator``), so the UI still
shows one box per feature set. The mapping from
an ingested partition to the feature run's as-of point (CONTRACTS.md) lives here.
"""

from __future__ import annotations

import logging

from tasks.features.catalogue import RunPoint
from tasks.features.publish import publish_feature_set
from tasks.features.submit import submit_feature_jobs
from tasks.partitions import Partition

log = logging.getLogger(__name__)


def run_point_for(partition: Partition) -> RunPoint:
    """Daily ``dt=D`` -> ``as_of_date = D+1`` (data before D+1 00:00); hourly
    ``dt=D/hr=H`` -> ``as_of_hour = D H:00`` (the hour being scored), ``as_of_date = D``."""
    if partition.is_hourly:
        return RunPoint(partition.dt, partition.start)
    return RunPoint(partition.as_of.date())


def compute_feature_sets(jobs: list[str], partition: Partition) -> dict[str, str]:
    """Compute ``jobs`` for ``partition`` in one Spark application; returns job -> lake folder."""
    point = run_point_for(partition)
    outputs = submit_feature_jobs(jobs, point.as_of_date, point.as_of_hour)
    for job, output in outputs.items():
        log.info("feature set %s for %s written to %s", job, point.label, output)
    return {job: str(output) for job, output in outputs.items()}


def publish(job: str, partition: Partition) -> int:
    """Publish the lake output of ``job`` for ``partition`` to ``features.<job>``; rows published."""
    point = run_point_for(partition)
    return publish_feature_set(job, point.as_of_date, point.as_of_hour)
