"""From a DAG partition to a published feature set: spark-submit, then publish.

``SparkFeatureJobOperator`` calls ``build_and_publish``; the mapping from an
ingested partition to the feature run's as-of point (CONTRACTS.md) lives here.
"""

from __future__ import annotations

import logging

from tasks.features.catalogue import RunPoint
from tasks.features.publish import publish_feature_set
from tasks.features.submit import submit_feature_job
from tasks.partitions import Partition

log = logging.getLogger(__name__)


def run_point_for(partition: Partition) -> RunPoint:
    """Daily ``dt=D`` -> ``as_of_date = D+1`` (data before D+1 00:00); hourly
    ``dt=D/hr=H`` -> ``as_of_hour = D H:00`` (the hour being scored), ``as_of_date = D``."""
    if partition.is_hourly:
        return RunPoint(partition.dt, partition.start)
    return RunPoint(partition.as_of.date())


def build_and_publish(job: str, partition: Partition) -> int:
    """Compute feature set ``job`` for ``partition`` with Spark and publish it; returns rows published."""
    point = run_point_for(partition)
    output = submit_feature_job(job, point.as_of_date, point.as_of_hour)
    log.info("feature set %s for %s written to %s", job, point.label, output)
    return publish_feature_set(job, point.as_of_date, point.as_of_hour)
