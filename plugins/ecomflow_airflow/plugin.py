"""Registers ecomflow with Airflow's plugin manager (operators are imported directly by DAGs).

The HTML reports (``tasks/reporting``, docs/monitoring.md "Reports") are served inside the
Airflow 3 UI: ``fastapi_apps`` mounts ``reports_app`` on the API server at
``/ecomflow-reports``, and an ``external_views`` entry adds an "ML reports" button to the side bar,
which shows that index in the UI's frame (``url_route``: the UI's address is
``/plugin/ecomflow-reports``). The ``href`` has no leading slash: the UI resolves it against
its ``<base href>``, so it also works when Airflow is served under a sub-path.

``fastapi_apps`` is built on first access: every task process loads plugins (for macros), and
only the API server needs FastAPI (importing it took 0.2-0.35 s per task).
"""

from functools import lru_cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from ecomflow_airflow import scheduler_wake
from ecomflow_airflow.reports_app import URL_PREFIX


@lru_cache(maxsize=1)
def _reports_app() -> dict[str, Any]:
    from ecomflow_airflow.reports_app import create_reports_app

    return {"app": create_reports_app(), "url_prefix": URL_PREFIX, "name": "ecomflow reports"}


class EcomflowPlugin(AirflowPlugin):
    name = "ecomflow"
    # Each task's end wakes the local scheduler (executor.py waits for it); ignored elsewhere.
    listeners = [scheduler_wake]
    external_views = [{
        "name": "ML reports",
        "href": URL_PREFIX.lstrip("/") + "/",
        "destination": "nav",
        "url_route": URL_PREFIX.lstrip("/"),
        "nav_top_level": True,  # its own button in the side bar, not an entry of a menu
    }]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        return [_reports_app()]
