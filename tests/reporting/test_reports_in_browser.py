"""The reports as a person sees them: headless Chromium (tests/e2e/browser.py), offline (any
request that leaves 127.0.0.1 is blocked), on the plugin's app served by uvicorn.

Why uvicorn and not the Airflow UI here: the only running-Airflow fixture is the end-to-end
`make run` test (minutes); this test needs ~10 s, and the app is the same object the plugin
mounts on the API server (its login check is the one thing left out: a TestClient test covers it).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ecomflow_airflow.reports_app import create_reports_app

from tasks.reporting.build import build_reports
from tests.e2e.browser import browser
from tests.reporting.warehouse import D, plant_warehouse


@pytest.fixture
def served_reports(isolated_home: Path) -> Iterator[str]:
    import uvicorn

    plant_warehouse(isolated_home)
    root = build_reports(D, models=["recommender", "session_intent", "demand_forecaster", "risk"]).index.parent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_reports_app(root, require_login=False), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_index_to_a_model_report_with_its_charts_offline(served_reports: str) -> None:
    with browser("reports", offline=True) as b:
        b.page.goto(f"{served_reports}/")
        b.wait_for_text("ecomflow reports")
        b.shot("index")
        b.page.get_by_role("link", name=D.isoformat()).click()
        b.wait_for_text("Pipeline runs of the day")
        b.page.get_by_role("link", name="demand_forecaster").first.click()
        b.wait_for_text("Forecast fan charts vs actuals")
        charts = b.page.locator("figure svg")
        assert charts.count() >= 3  # training curves, realised metrics, fan charts
        box = charts.first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100, box  # drawn, not an empty element
        b.shot("demand_forecaster")
        b.page.goto(f"{served_reports}/ecomflow_daily/{D}/session_intent.html")
        b.wait_for_text("Precision-recall and calibration")
        b.page.locator("section[data-section='Precision-recall and calibration']").scroll_into_view_if_needed()
        b.shot("session_intent")
        b.page.goto(f"{served_reports}/ecomflow_daily/{D}/risk.html")
        b.wait_for_text("Nothing to show: nothing served in serving.risk_labels")
        assert b.blocked == [], b.blocked  # nothing was fetched from outside
