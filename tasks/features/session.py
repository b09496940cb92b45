"""The one way this project builds a SparkSession.

Every knob comes from ``get_settings()`` (master, driver memory, Spark Connect remote)
so the same job runs in ``local[2]`` tests, ``local[*]`` on a laptop and on a
cluster by changing environment variables only. Nothing here assumes one machine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tasks.settings import get_settings

if TYPE_CHECKING:  # pyspark is imported only when a session is built
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

#: Feature inputs are small per partition; 200 default shuffle partitions would
#: spend most of the time scheduling empty tasks. Override per call (``shuffle_partitions``).
DEFAULT_SHUFFLE_PARTITIONS = 4

# Settings that make results independent of where the job runs.
_FIXED_CONF: dict[str, str] = {
    # All timestamps are UTC stored naive (CONTRACTS.md); a session zone of UTC
    # makes naive <-> instant conversions the identity.
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Spark's own INFO lines (tens of thousands per run: one per file scanned) would drown the
    # task log that now streams the job's output; the job's own progress lines are Python INFO.
    "spark.log.level": "WARN",
    # Readers outside Spark (pyarrow, DuckDB) understand micros, not INT96.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # pandas/pyarrow write nanosecond timestamps by default, which Spark refuses
    # to read as TIMESTAMP; read them as longs and convert (tasks.features.lake_io).
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.adaptive.enabled": "true",
    # Raw partitions are one small file per dt/hr: listing thousands of them with a
    # distributed Spark job costs seconds; listing on the driver costs milliseconds.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def spark_conf(
    shuffle_partitions: int | None = None,
    extra_conf: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The ``spark.*`` settings used by every session and by ``spark-submit``.

    Precedence (lowest first): fixed defaults, ``extra_conf``, ``shuffle_partitions``.
    """
    conf = dict(_FIXED_CONF)
    conf["spark.sql.shuffle.partitions"] = str(DEFAULT_SHUFFLE_PARTITIONS)
    conf.update(extra_conf or {})
    if shuffle_partitions is not None:
        if shuffle_partitions < 1:
            raise ValueError(f"shuffle_partitions must be >= 1, got {shuffle_partitions}")
        conf["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    return conf


def driver_java_options() -> str:
    """The driver's JVM flags (``Settings.spark_driver_java_options``); ``""`` when the setting is
    ``none``, so the JVM's own defaults apply (an empty variable counts as unset)."""
    options = get_settings().spark_driver_java_options.strip()
    return "" if options.lower() == "none" else options


def driver_java_options_args() -> list[str]:
    """``spark-submit`` arguments for :func:`driver_java_options` (none when it is empty)."""
    options = driver_java_options()
    return ["--driver-java-options", options] if options else []


def build_spark_session(
    app_name: str,
    master: str | None = None,
    *,
    shuffle_partitions: int | None = None,
    extra_conf: Mapping[str, str] | None = None,
    submitted: bool = False,
    remote: str | None = None,
) -> SparkSession:
    """Create (or reuse) the SparkSession for ``app_name``.

    ``master`` defaults to ``Settings.spark_master``. Under ``spark-submit`` pass
    ``submitted=True``: master and driver memory were fixed on the command line
    (the JVM is already running), and setting them here would silently override
    what the operator chose.

    ``remote`` (``sc://host:port``) connects to a long-lived Spark Connect server instead of
    starting a JVM: only session-level SQL settings apply (the server fixed the rest at start,
    ``tasks/orchestration/spark_connect.py``).
    """
    from pyspark.sql import SparkSession

    settings = get_settings()
    if remote:
        session = SparkSession.builder.remote(remote).appName(app_name).getOrCreate()
        for key, value in spark_conf(shuffle_partitions, extra_conf).items():
            if key.startswith("spark.sql.") and session.conf.isModifiable(key):
                session.conf.set(key, value)
        log.info("Spark session %s on %s (Spark Connect)", app_name, remote)
        return session
    builder = SparkSession.builder.appName(app_name)
    if not submitted:
        builder = builder.master(master or settings.spark_master)
        # Only effective before the JVM starts, which is the case here.
        builder = builder.config("spark.driver.memory", settings.spark_driver_memory)
        if driver_java_options():
            builder = builder.config("spark.driver.extraJavaOptions", driver_java_options())
    elif master is not None:
        raise ValueError("master is decided by spark-submit when submitted=True")
    for key, value in spark_conf(shuffle_partitions, extra_conf).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    # getOrCreate() returns an existing session unchanged; runtime SQL settings
    # can still be applied so callers always get the configuration they asked for.
    for key, value in spark_conf(shuffle_partitions, extra_conf).items():
        if session.conf.isModifiable(key):
            session.conf.set(key, value)
    log.info("Spark session %s on %s", app_name, session.sparkContext.master)
    return session
