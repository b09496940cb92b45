"""The Airflow plugin's reports app (FastAPI TestClient) and `ecomflow report`."""

from __future__ import annotations

from pathlib import Path

import pytest
from ecomflow_airflow.reports_app import URL_PREFIX, create_reports_app
from fastapi.testclient import TestClient

from tasks.reporting.build import build_reports
from tests.reporting.warehouse import D, plant_warehouse

MODELS = ["recommender", "session_intent", "demand_forecaster", "risk"]


@pytest.fixture
def reports(isolated_home: Path) -> Path:
    plant_warehouse(isolated_home)
    return build_reports(D, models=MODELS).index.parent


def test_the_app_serves_the_index_and_the_reports(reports: Path) -> None:
    client = TestClient(create_reports_app(reports, require_login=False))
    index = client.get("/")
    assert index.status_code == 200 and "ecomflow reports" in index.text
    assert f'href="ecomflow_daily/{D}/index.html"' in index.text
    day = client.get(f"/ecomflow_daily/{D}/index.html")
    assert day.status_code == 200 and 'href="recommender.html"' in day.text
    page = client.get(f"/ecomflow_daily/{D}/demand_forecaster.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Forecast fan charts vs actuals" in page.text and "<svg" in page.text
    folder = client.get(f"/ecomflow_daily/{D}/")  # a folder serves its index.html
    assert folder.status_code == 200 and "Pipeline runs of the day" in folder.text
    assert client.get("/ecomflow_daily/2000-01-01/index.html").status_code == 404
    assert client.get("/../../pii.key").status_code == 404  # nothing outside the reports folder


def test_the_app_says_when_there_are_no_reports_yet(tmp_path: Path) -> None:
    client = TestClient(create_reports_app(tmp_path / "not-yet", require_login=False))
    response = client.get("/")
    assert response.status_code == 404 and "ecomflow report YYYY-MM-DD" in response.text


def test_the_app_needs_an_airflow_login(reports: Path) -> None:
    client = TestClient(create_reports_app(reports))  # what the plugin mounts
    for path in ("/", f"/ecomflow_daily/{D}/recommender.html"):
        assert client.get(path).status_code == 401, path


def test_the_plugin_registers_the_app_and_a_nav_link_airflow_accepts() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse, FastAPIAppResponse
    from ecomflow_airflow.plugin import EcomflowPlugin

    plugin = EcomflowPlugin()
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == URL_PREFIX and app["app"] is plugin.fastapi_apps[0]["app"]  # built once
    FastAPIAppResponse(app=str(app["app"]), url_prefix=app["url_prefix"], name=app["name"])
    (view,) = plugin.external_views
    parsed = ExternalViewResponse(**view)  # Airflow's own serializer of the UI's plugin list
    assert parsed.destination == "nav" and parsed.url_route == "ecomflow-reports" and parsed.nav_top_level
    assert parsed.href == "ecomflow-reports/"  # relative: resolved against the UI's <base href>


def test_the_cli_builds_the_reports_of_the_newest_day(reports: Path, capsys: pytest.CaptureFixture) -> None:
    from tasks.cli import main

    (reports / "index.html").unlink()
    assert main(["report"]) == 0  # no day: the newest in monitoring.pipeline_runs (D)
    out = capsys.readouterr()
    assert out.out.strip() == str(reports / "index.html") and (reports / "index.html").is_file()
    assert f"ecomflow_daily {D}" in out.err
