"""docker-compose.yml cannot be started here (no Docker engine), so its contract is checked:
services, images, healthchecks, volumes, env consistent with tasks/settings.py, GPU trainer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_required_services(compose: dict) -> None:
    services = set(compose["services"])
    required = {*AIRFLOW_SERVICES, "postgres", "spark-master", "spark-worker", "trainer", "airflow-init"}
    assert required <= services, required - services


def test_every_long_running_service_has_a_healthcheck_and_image(compose: dict) -> None:
    for name, svc in compose["services"].items():
        assert "image" in svc, f"{name} has no image"
        if name != "airflow-init":
            assert "healthcheck" in svc and svc["healthcheck"]["test"], f"{name} lacks a healthcheck"


def test_airflow_commands(compose: dict) -> None:
    expected = {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer"}
    for name, sub in expected.items():
        assert f"airflow {sub}" in compose["services"][name]["command"]


def test_env_matches_settings(compose: dict) -> None:
    """Every ECOMFLOW_* variable in compose is one tasks/settings.py actually reads."""
    settings_src = (REPO / "tasks" / "settings.py").read_text()
    read_vars = set(re.findall(r'"(ECOMFLOW_[A-Z_]+)"', settings_src))
    env = compose["services"]["airflow-scheduler"]["environment"]
    ecom = {k for k in env if k.startswith("ECOMFLOW_")}
    assert ecom <= read_vars, f"compose sets variables settings never reads: {ecom - read_vars}"
    assert env["ECOMFLOW_WAREHOUSE"] == "postgres"
    assert env["ECOMFLOW_SPARK_MASTER"].startswith("spark://spark-master:")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080")


def test_no_clear_secrets(compose: dict) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET|KEY)\s*:", line) and "_KEY: /" not in line:
            value = line.split(":", 1)[1].strip()
            assert value.startswith("${") or value == "", f"secret not taken from env: {line.strip()}"


def test_trainer_reserves_a_gpu_and_consumes_the_training_queue(compose: dict) -> None:
    trainer = compose["services"]["trainer"]
    devices = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    queue = compose["services"]["airflow-scheduler"]["environment"]["ECOMFLOW_TRAIN_QUEUE"]
    assert f"--queues {queue}" in trainer["command"]


def test_shared_state_volume(compose: dict) -> None:
    """Lake and artefacts must be shared by Airflow tasks and Spark executors."""
    home = compose["services"]["airflow-scheduler"]["environment"]["ECOMFLOW_HOME"]
    for name in ("airflow-scheduler", "airflow-worker", "trainer", "spark-worker"):
        mounts = compose["services"][name]["volumes"]
        assert any(m.endswith(":" + home) for m in mounts), name
    assert "ecomflow-state" in compose["volumes"]


def test_dockerfile_and_init_sql_exist(compose: dict) -> None:
    build = compose["services"]["airflow-scheduler"]["build"]
    assert (REPO / build["context"] / build["dockerfile"]).exists()
    init = [v for v in compose["services"]["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v][0]
    sql = (REPO / init.split(":")[0]).read_text()
    db = compose["services"]["airflow-scheduler"]["environment"]["ECOMFLOW_PG_DB"]
    assert f"CREATE DATABASE {db}" in sql
