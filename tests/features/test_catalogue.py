"""The job catalogue, run points and the spark-submit command (no Spark started)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from datetime import date, datetime

import pytest

from tasks.features import FEATURE_JOBS, RunPoint
from tasks.partitions import Partition


def test_catalogue_lists_the_contract_feature_sets():
    assert set(FEATURE_JOBS) == {
        "user_profile", "item_features", "session_features", "transaction_velocity", "daily_item_sales"}
    assert {n for n, j in FEATURE_JOBS.items() if j.hourly} == {"session_features", "transaction_velocity"}
    assert all(j.daily for j in FEATURE_JOBS.values())


@pytest.mark.parametrize("name", sorted(FEATURE_JOBS))
def test_transform_signature_matches_declared_inputs(name):
    job = FEATURE_JOBS[name]
    params = inspect.signature(job.transform).parameters
    positional = [p for p, v in params.items() if v.kind is v.POSITIONAL_OR_KEYWORD]
    assert positional == [*job.entities, "as_of"]
    assert ("hourly" in params) == job.hourly


def test_run_points():
    daily = RunPoint.parse("2024-03-02")
    assert daily.as_of == datetime(2024, 3, 2) and daily.as_of_hour is None and daily.label == "2024-03-02"
    hourly = RunPoint.parse("2024-03-02", "2024-03-02T13")
    assert hourly.as_of == datetime(2024, 3, 2, 14) and hourly.label == "2024-03-02T13"
    with pytest.raises(ValueError, match="not on as_of_date"):
        RunPoint.parse("2024-03-03", "2024-03-02T13")


def test_dag_partitions_map_to_run_points():
    from tasks.features.pipeline import run_point_for

    assert run_point_for(Partition(date(2024, 3, 1))) == RunPoint(date(2024, 3, 2))
    assert run_point_for(Partition(date(2024, 3, 1), 7)) == RunPoint(date(2024, 3, 1), datetime(2024, 3, 1, 7))


def test_importing_the_scheduler_side_does_not_import_pyspark():
    code = ("import sys, tasks.features, tasks.features.pipeline, tasks.features.publish; "
            "sys.exit(1 if 'pyspark' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_submit_command(isolated_home, monkeypatch):
    from tasks import settings
    from tasks.features.submit import RUN_JOB_SCRIPT, build_command

    monkeypatch.setenv("ECOMFLOW_SPARK_MASTER", "spark://cluster:7077")
    settings.reset()
    cmd = build_command("session_features", RunPoint.parse("2024-03-02", "2024-03-02T13"))
    assert cmd[0].endswith("spark-submit")
    assert cmd[cmd.index("--master") + 1] == "spark://cluster:7077"
    assert f"spark.pyspark.python={sys.executable}" in cmd
    assert "spark.sql.session.timeZone=UTC" in cmd
    assert cmd[cmd.index(str(RUN_JOB_SCRIPT)):] == [
        str(RUN_JOB_SCRIPT), "--job", "session_features", "--as-of-date", "2024-03-02",
        "--as-of-hour", "2024-03-02T13"]
    both = build_command(["session_features", "transaction_velocity"], RunPoint.parse("2024-03-02"))
    assert both[both.index(str(RUN_JOB_SCRIPT)):] == [
        str(RUN_JOB_SCRIPT), "--job", "session_features", "--job", "transaction_velocity",
        "--as-of-date", "2024-03-02"]


@pytest.mark.parametrize("name", sorted(FEATURE_JOBS))
def test_documented_definitions_name_output_columns(name):
    """The catalogue's definitions describe real columns of the set (a rename would orphan them)."""
    import importlib

    job = FEATURE_JOBS[name]
    outputs = importlib.import_module(job.transform_ref.split(":")[0]).OUTPUT_COLUMNS
    assert job.definitions, f"{name} documents no definitions"
    assert set(job.definitions) <= set(outputs), set(job.definitions) - set(outputs)
