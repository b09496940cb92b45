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

from tasks.features.session import spark_conf
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
           "--driver-memory", settings.spark_driver_memory,
           "--conf", f"spark.connect.grpc.binding.port={port}",
           "--conf", f"spark.connect.grpc.binding.address={bind}",
           "--conf", f"spark.pyspark.python={sys.executable}"]
    for key, value in spark_conf().items():
        cmd += ["--conf", f"{key}={value}"]
    return cmd + ["spark-internal"]


def remote_url(port: int = DEFAULT_PORT) -> str:
    return f"sc://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> None:
    """``python -m tasks.orchestration.spark_connect``: run the server in the foreground (the
    docker-compose ``spark-connect`` service), against ``ECOMFLOW_SPARK_MASTER``."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    args = parser.parse_args(argv)
    cmd = server_command(args.port, args.bind)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
