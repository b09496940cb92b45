"""Launch a feature job with spark-submit, from Airflow or the command line.

The job runs in its own JVM/Python pair so the scheduler process never holds a
SparkContext, and the same command works against ``local[*]`` or a cluster
master taken from settings. The driver runs in client mode (here), so it sees
the same ``ECOMFLOW_*`` environment and therefore the same lake.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from tasks.features.catalogue import RunPoint, get_job
from tasks.features.paths import feature_output_path
from tasks.features.session import driver_java_options_args, spark_conf
from tasks.settings import REPO_ROOT, get_settings
from tasks.subprocess_stream import stream_command

log = logging.getLogger(__name__)

RUN_JOB_SCRIPT = Path(__file__).resolve().with_name("run_job.py")
LOG_TAIL_LINES = 60


class FeatureJobError(RuntimeError):
    """spark-submit exited non-zero; the message carries the end of its log."""


def spark_submit_executable() -> Path:
    """spark-submit of the pyspark installed beside this interpreter (same version as the code)."""
    return Path(sys.executable).parent / "spark-submit"


def _package_zip(directory: Path) -> Path:
    """Zip the ``tasks`` package for ``--py-files`` (executors on other machines)."""
    target = directory / "ecomflow_tasks.zip"
    package = REPO_ROOT / "tasks"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in package.rglob("*.py"):
            zf.write(path, path.relative_to(REPO_ROOT))
    return target


def _names(jobs: str | Sequence[str]) -> list[str]:
    return [jobs] if isinstance(jobs, str) else list(dict.fromkeys(jobs))


def build_command(jobs: str | Sequence[str], point: RunPoint, py_files: Path | None = None) -> list[str]:
    """The spark-submit argument list (exposed so it can be logged and tested): one application
    computing every feature set in ``jobs``.

    With ``ECOMFLOW_SPARK_REMOTE`` set, the job runs as a plain Python client of that Spark
    Connect server instead: no JVM starts (5-25 s of every hourly run on 2 cores) and the
    server's JIT-compiled code is reused from run to run.
    """
    settings = get_settings()
    names = _names(jobs)
    if settings.spark_remote:
        return [sys.executable, str(RUN_JOB_SCRIPT), "--remote", settings.spark_remote,
                *[arg for name in names for arg in ("--job", name)], *_point_args(point)]
    cmd = [
        str(spark_submit_executable()),
        "--master", settings.spark_master,
        "--name", f"ecomflow-features-{'+'.join(names)}-{point.label}",
        "--driver-memory", settings.spark_driver_memory, *driver_java_options_args(),
        "--conf", f"spark.pyspark.python={sys.executable}",
        "--conf", f"spark.pyspark.driver.python={sys.executable}",
        "--conf", f"spark.executorEnv.PYTHONPATH={REPO_ROOT}",
    ]
    for key, value in spark_conf().items():
        cmd += ["--conf", f"{key}={value}"]
    if py_files is not None:
        cmd += ["--py-files", str(py_files)]
    cmd += [str(RUN_JOB_SCRIPT)]
    for name in names:
        cmd += ["--job", name]
    return cmd + _point_args(point)


def _point_args(point: RunPoint) -> list[str]:
    args = ["--as-of-date", point.as_of_date.isoformat()]
    if point.as_of_hour is not None:
        args += ["--as-of-hour", f"{point.as_of_hour:%Y-%m-%dT%H}"]
    return args


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env


def submit_feature_job(
    job: str,
    as_of_date: date | str,
    as_of_hour: datetime | str | None = None,
    *,
    timeout_s: float | None = None,
) -> Path:
    """Run feature job ``job`` as of ``as_of_date`` (and ``as_of_hour``) via spark-submit.

    Returns the output folder in the lake. Raises ``FeatureJobError`` with the
    tail of the Spark log when the job fails; the full log is kept under
    ``$ECOMFLOW_HOME/logs/features/``.
    """
    return submit_feature_jobs([job], as_of_date, as_of_hour, timeout_s=timeout_s)[job]


def submit_feature_jobs(
    jobs: Sequence[str],
    as_of_date: date | str,
    as_of_hour: datetime | str | None = None,
    *,
    timeout_s: float | None = None,
) -> dict[str, Path]:
    """Compute every feature set in ``jobs`` as of one point in one spark-submit (one JVM).

    Returns job -> output folder in the lake. A failure names the sets and keeps the log.
    """
    point = RunPoint.parse(as_of_date, as_of_hour)
    names = _names(jobs)
    if not names:
        raise ValueError("no feature sets to compute")
    for job in names:
        if not get_job(job).supports(point.hourly):
            raise ValueError(f"feature set {job!r} has no {'hourly' if point.hourly else 'daily'} run")
    settings = get_settings()
    log_dir = settings.home / "logs" / "features"
    log_dir.mkdir(parents=True, exist_ok=True)
    label = names[0] if len(names) == 1 else "+".join(names)
    log_file = log_dir / f"{label}-{point.label}.log"
    with tempfile.TemporaryDirectory(prefix="ecomflow-submit-") as tmp:
        local = settings.spark_master.startswith("local") or bool(settings.spark_remote)
        cmd = build_command(names, point, None if local else _package_zip(Path(tmp)))
        log.info("running %s", " ".join(cmd))
        run = stream_command(cmd, logger=log, prefix="spark", env=_environment(), cwd=REPO_ROOT,
                             log_file=log_file, timeout_s=timeout_s, tail_lines=LOG_TAIL_LINES)
    if run.timed_out:
        raise FeatureJobError(
            f"feature job {label} as of {point.label} timed out after {timeout_s}s "
            f"(log: {log_file}); last lines:\n" + "\n".join(run.tail)
        )
    if run.returncode != 0:
        raise FeatureJobError(
            f"feature job {label} as of {point.label} failed ({Path(cmd[0]).name} exit {run.returncode}, "
            f"log: {log_file}); last lines:\n" + "\n".join(run.tail)
        )
    return {job: feature_output_path(job, point.as_of_date, point.as_of_hour) for job in names}
