"""Run one feature job: read the raw lake, compute as of a point in time, write Parquet.

Run by spark-submit (see ``tasks.features.submit``), or as a plain Python client of a
long-lived Spark Connect server with ``--remote sc://host:port`` (no JVM start per run)::

    spark-submit --master local[2] tasks/features/run_job.py \
        --job session_features [--job transaction_velocity ...] --as-of-date 2024-03-02 \
        [--as-of-hour 2024-03-02T13]

Several ``--job`` share one application (one JVM, one SparkSession): a DAG run computes all
its feature sets in one spark-submit, because JVM and session start-up, not the
aggregations, dominated the cost of one submit per set (issue 15: 17-25 s each on S).

Daily runs write ``lake/features/<job>/as_of_date=D/``; hourly runs
``lake/features/<job>/as_of_hour=DTHH/``. The folder is overwritten, so a
re-run replaces its previous output.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession

from tasks.features.catalogue import FEATURE_JOBS, FeatureJob, RunPoint, get_job
from tasks.features.lake_io import read_raw, write_features

log = logging.getLogger("tasks.features.run_job")
#: Feature sets computed at once in one application (``--parallel``; see ``run_feature_jobs``).
DEFAULT_PARALLEL = 2


def read_inputs(spark: SparkSession, job: FeatureJob, point: RunPoint) -> dict[str, DataFrame]:
    """The job's raw inputs, pruned to the partitions its windows need."""
    frames = {}
    for spec in job.inputs:
        lookback = spec.lookback(point.hourly)
        start = None if lookback is None else point.as_of - lookback
        frames[spec.entity] = read_raw(spark, spec.entity, end=point.as_of, start=start)
    return frames


def compute_feature_set(spark: SparkSession, name: str, point: RunPoint) -> DataFrame:
    """Read inputs and apply the job's transform (no write)."""
    job = get_job(name)
    if not job.supports(point.hourly):
        kind = "hourly" if point.hourly else "daily"
        raise ValueError(f"feature set {name!r} has no {kind} run")
    frames = read_inputs(spark, job, point)
    kwargs = {"hourly": True} if point.hourly else {}
    return job.transform(**frames, as_of=point.as_of, **kwargs)


def run_feature_job(spark: SparkSession, name: str, point: RunPoint) -> str:
    """Compute and write one feature set; returns the output folder."""
    frame = compute_feature_set(spark, name, point)
    target = write_features(frame, name, point.as_of_date, point.as_of_hour)
    log.info("feature set %s as of %s written to %s", name, point.label, target)
    return target


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, action="append", choices=sorted(FEATURE_JOBS),
                        help="a feature set; repeat to compute several in one application")
    parser.add_argument("--as-of-date", required=True, help="YYYY-MM-DD (daily: data before its 00:00)")
    parser.add_argument("--as-of-hour", default=None, help="YYYY-MM-DDTHH: the hour being scored")
    parser.add_argument("--shuffle-partitions", type=int, default=None)
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL,
                        help="feature sets computed at once in the application (1: one after another)")
    parser.add_argument("--remote", default=None,
                        help="sc://host:port of a Spark Connect server (run as a plain Python client)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    point = RunPoint.parse(args.as_of_date, args.as_of_hour)
    from tasks.features.session import build_spark_session

    spark = build_spark_session(
        f"ecomflow-features-{'+'.join(args.job)}-{point.label}",
        submitted=not args.remote,
        shuffle_partitions=args.shuffle_partitions,
        remote=args.remote,
    )
    try:
        run_feature_jobs(spark, list(dict.fromkeys(args.job)), point, args.parallel)
    finally:
        spark.stop()
    return 0


def run_feature_jobs(spark: SparkSession, names: Sequence[str], point: RunPoint, parallel: int) -> list[str]:
    """Compute and write ``names``, up to ``parallel`` at once; returns the output folders in order.

    Why at once: on small data a feature set's time is mostly the driver's per-query work
    (analysis, planning, code generation, job scheduling, the Parquet commit), one thread each,
    while the executors idle; two sets in flight keep both busy. Spark runs jobs submitted from
    several threads of one session concurrently (classic and Connect alike), and every set
    writes its own folder. The first failure is raised once the sets in flight have ended.
    """
    if parallel <= 1 or len(names) <= 1:
        return [run_feature_job(spark, name, point) for name in names]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="feature-set") as pool:
        futures = [pool.submit(run_feature_job, spark, name, point) for name in names]
        return [future.result() for future in futures]


if __name__ == "__main__":
    sys.exit(main())
