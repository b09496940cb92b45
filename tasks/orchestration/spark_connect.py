"""A long-lived Spark Connect server for feature jobs (``ECOMFLOW_SPARK_REMOTE``).

Why: every feature run used to start its own JVM with spark-submit. On 2 cores the JVM start,
session set-up and cold (not yet JIT-compiled) query planning took 25 of an hourly run's ~35 s of
Spark, for a few thousand rows. A server started once with the local Airflow keeps one warm JVM;
each run connects as a light Python client (``tasks/features/run_job.py --remote``), and its
session-level SQL settings are its own. On a cluster the same client points at the cluster's
Connect endpoint (or keeps spark-submit: leave ``ECOMFLOW_SPARK_REMOTE`` unset).
"""

from __future__ import annotations

import sys
from pathlib import Path

from tasks.features.session import driver_java_options_args, spark_conf
from tasks.settings import get_settings

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DEFAULT_PORT = 15002


def server_command(port: int = DEFAULT_PORT, bind: str = "127.0.0.1") -> list[str]:
    """spark-submit of pyspark's bundled Spark Connect server, listening on ``bind``:``port``.

    127.0.0.1 for the local stack (nothing outside the machine reaches it); docker-compose's
    ``spark-connect`` service binds 0.0.0.0 inside its network so the Airflow workers can connect.
    """
    settings = get_settings()
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--class", SERVER_CLASS,
           "--master", settings.spark_master, "--name", "ecomflow-spark-connect",
           "--driver-memory", settings.spark_driver_memory, *driver_java_options_args(),
           "--conf", f"spark.connect.grpc.binding.port={port}",
           "--conf", f"spark.connect.grpc.binding.address={bind}",
           "--conf", f"spark.pyspark.python={sys.executable}"]
    for key, value in spark_conf().items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd + ["spark-internal"]


def remote_url(port: int = DEFAULT_PORT) -> str:
    return f"sc://127.0.0.1:{port}"


def warm_up(remote: str) -> float:
    """Run one small job of the feature jobs' kind on a fresh server; returns its seconds.

    Why: a new server's first query pays for class loading, code generation and a cold JIT.
    Measured on 2 cores: user_profile + item_features on a clickstream scenario's lake took 21 s
    as the server's first job and 10 s after this warm-up (which took ~15 s by itself). The
    local stack runs it in the background as soon as the server listens, so that cost overlaps
    ingestion and dbt instead of lengthening ``features.compute``. It writes only to a
    temporary directory and uses its own Spark Connect session.
    """
    import tempfile
    import time

    from pyspark.sql import SparkSession, Window
    from pyspark.sql import functions as F

    started = time.monotonic()
    spark = SparkSession.builder.remote(remote).appName("ecomflow-spark-warm-up").getOrCreate()
    try:
        with tempfile.TemporaryDirectory(prefix="ecomflow-spark-warm-up-") as folder:
            rows = [(f"u{i % 7}", f"p{i % 5}", ("view", "cart", "purchase")[i % 3], float(i), i * 3600)
                    for i in range(60)]
            events = (spark.createDataFrame(rows, "user_id string, product_id string, event_type string, "
                                                  "price double, ts long")
                      .withColumn("event_ts", F.timestamp_seconds("ts")).withColumn("dt", F.to_date("event_ts")))
            events.write.mode("overwrite").partitionBy("dt").parquet(f"{folder}/events")
            read = spark.read.parquet(f"{folder}/events").where(F.col("event_ts") < F.lit("2100-01-01").cast("timestamp"))
            products = read.select("product_id").distinct().withColumn("category", F.concat(F.lit("c"), "product_id"))
            summary = (read.join(products, "product_id", "left").groupBy("user_id", "category")
                       .agg(F.count("*").alias("n"), F.countDistinct("product_id").alias("products"),
                            F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))).alias("spend"),
                            F.max("event_ts").alias("last_ts"), F.avg("price").alias("avg_price")))
            ranked = (summary.withColumn("rank", F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("n"))))
                      .withColumn("previous", F.lag("last_ts").over(Window.partitionBy("user_id").orderBy("last_ts"))))
            ranked.write.mode("overwrite").parquet(f"{folder}/out")
            spark.read.parquet(f"{folder}/out").count()
    finally:
        spark.stop()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    """``python -m tasks.orchestration.spark_connect``: run the server in the foreground (the
    docker-compose ``spark-connect`` service), against ``ECOMFLOW_SPARK_MASTER``; with
    ``--warm-up``, run ``warm_up`` against the server on ``--port`` instead."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--warm-up", action="store_true", help="run one small job on the server at --port and exit")
    args = parser.parse_args(argv)
    if args.warm_up:
        print(f"Spark Connect warm-up on {remote_url(args.port)}: {warm_up(remote_url(args.port)):.1f} s", flush=True)
        return
    cmd = server_command(args.port, args.bind)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
