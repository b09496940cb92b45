"""docker-compose.yml cannot be started here (no Docker engine), so its contract is checked:
services, images, healthchecks, volumes, env consistent with tasks/settings.py, GPU trainer."""

from __future__ import annotations

import os
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
    from tasks.settings import setting_variables

    read_vars = set(setting_variables())  # one per field of the typed Settings model
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


def _initdb_mounts(compose: dict) -> dict[str, str]:
    """Container init file name -> repo path, for the postgres service."""
    mounts = {}
    for volume in compose["services"]["postgres"]["volumes"]:
        if "docker-entrypoint-initdb.d" in volume:
            host, container = volume.split(":")[:2]
            mounts[container.rsplit("/", 1)[1]] = host
    return mounts


def test_bi_reader_role_is_created_at_init_with_its_password_from_env(compose: dict) -> None:
    """The role script runs after the database exists and never carries a password itself."""
    mounts = _initdb_mounts(compose)
    assert list(sorted(mounts)) == ["10-warehouse.sql", "20-bi-reader.sh"], mounts
    env = compose["services"]["postgres"]["environment"]
    assert env["ECOMFLOW_BI_READER_PASSWORD"].startswith("${ECOMFLOW_BI_READER_PASSWORD:?")
    script = (REPO / mounts["20-bi-reader.sh"]).read_text()
    assert "PASSWORD :'bi_password'" in script
    assert 'bi_password="$ECOMFLOW_BI_READER_PASSWORD"' in script
    assert "IN SCHEMA serving GRANT SELECT ON TABLES TO :\"bi_role\"" in script
    assert 'BI_READER_ROLE="${ECOMFLOW_BI_READER_ROLE:-bi_reader}"' in script  # the pipeline's setting


def test_env_example_lists_every_required_variable_without_values() -> None:
    """`docker/env.example` documents each `${VAR:?}` compose needs, and commits no value."""
    code = "\n".join(line for line in (REPO / "docker-compose.yml").read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", code))
    entries = {}
    for line in (REPO / "docker" / "env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            entries[name.strip()] = value.strip()
    assert required and required <= set(entries), f"missing from docker/env.example: {required - set(entries)}"
    assert all(value == "" for value in entries.values()), "docker/env.example must not carry values"


@pytest.mark.postgres
def test_bi_reader_init_script_runs_on_postgres(pg_role: str) -> None:
    """Run the real init script (as the entrypoint would) on fresh databases of the local server,
    with a test-unique role name (roles are cluster-wide; ``pg_role`` drops it afterwards)."""
    import subprocess
    import uuid

    import psycopg2
    import psycopg2.errors

    from tests.conftest import _pg_admin_execute

    suffix = uuid.uuid4().hex[:10]
    warehouse, airflow = f"ecomflow_t_wh_{suffix}", f"ecomflow_t_af_{suffix}"
    for name in (warehouse, airflow):
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
    try:
        env = {"PATH": os.environ["PATH"], "PGHOST": "127.0.0.1", "PGPORT": "5432", "POSTGRES_USER": "postgres",
               "WAREHOUSE_DB": warehouse, "AIRFLOW_DB": airflow,
               "ECOMFLOW_BI_READER_PASSWORD": "test-only-dummy-bi-password", "ECOMFLOW_BI_READER_ROLE": pg_role}
        script = REPO / _initdb_mounts(yaml.safe_load((REPO / "docker-compose.yml").read_text()))["20-bi-reader.sh"]
        for _ in range(2):  # a second run (role already there) must not fail either
            proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
            assert proc.returncode == 0, proc.stderr

        owner = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=warehouse)
        owner.autocommit = True
        with owner.cursor() as cur:  # created after the script, as dbt would
            cur.execute("CREATE TABLE serving.kpis AS SELECT 1 AS n; CREATE SCHEMA raw; "
                        "CREATE TABLE raw.users AS SELECT 'x' AS email_hash")
        owner.close()

        bi = psycopg2.connect(host="127.0.0.1", user=pg_role, dbname=warehouse)
        bi.autocommit = True
        try:
            with bi.cursor() as cur:
                cur.execute("SELECT n FROM serving.kpis")
                assert cur.fetchall() == [(1,)]
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute("SELECT * FROM raw.users")
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute("CREATE TABLE serving.mine (x INTEGER)")
        finally:
            bi.close()
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            psycopg2.connect(host="127.0.0.1", user=pg_role, dbname=airflow).close()
    finally:
        for name in (warehouse, airflow):
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_feature_jobs_use_the_compose_spark_connect_server(compose: dict) -> None:
    """Workers reach the spark-connect service at the address its command listens on, and that
    command is the server tasks/orchestration/spark_connect.py builds (bound to all interfaces in
    its container, against the cluster's master)."""
    from tasks.orchestration.spark_connect import server_command

    services = compose["services"]
    remote = services["airflow-worker"]["environment"]["ECOMFLOW_SPARK_REMOTE"]
    host, port = remote.removeprefix("sc://").split(":")
    assert host == "spark-connect" and host in services
    connect = services["spark-connect"]
    assert f"--port {port}" in connect["command"] and "--bind 0.0.0.0" in connect["command"]
    assert "tasks.orchestration.spark_connect" in connect["command"]
    assert connect["environment"]["ECOMFLOW_SPARK_MASTER"].startswith("spark://spark-master:")
    cmd = server_command(int(port), "0.0.0.0")
    assert f"spark.connect.grpc.binding.port={port}" in cmd and "spark.connect.grpc.binding.address=0.0.0.0" in cmd
    for worker in ("airflow-worker", "trainer"):  # imports preloaded before Celery forks task processes
        assert services[worker]["environment"]["ECOMFLOW_PRELOAD_TASK_LIBS"] == "1"
