"""The reports folder (``$ECOMFLOW_HOME/reports``, ``tasks/reporting``) as a FastAPI app that the
Airflow 3 API server mounts through the plugin (``plugin.py``: ``fastapi_apps`` + a nav
``external_views`` entry that shows the index inside the UI).

Plugin FastAPI apps are not behind Airflow's login by themselves, so every request needs the
user Airflow authenticated: the UI's session cookie (``_token``) or a bearer token, checked by
Airflow's own ``get_user`` (what its ``requires_authenticated`` dependency runs). The reports are static files: Starlette's
``StaticFiles`` serves them (``html=True``: a folder serves its ``index.html``); the folder may
not exist yet when the API server starts (``check_dir=False``), and files are looked up per
request, so reports written after start-up appear without a restart.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations
(``Request``), which are imported inside the function and would not resolve as strings.

Airflow imports every file under ``plugins/`` in every process (task processes too, for macros),
so FastAPI is imported inside the functions: only the API server, which builds the app
(``plugin.py``, on first access), pays for it.
"""

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.staticfiles import StaticFiles

#: Where the API server mounts the app (the nav link and the report task's log point there).
URL_PREFIX = "/ecomflow-reports"

_NO_REPORTS = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ecomflow reports</title></head>
<body style="font-family:system-ui,sans-serif;margin:2rem"><h1>ecomflow reports</h1>
<p>No reports yet in <code>{root}</code>: the daily DAG's <code>monitoring.report</code> task writes them,
or run <code>ecomflow report YYYY-MM-DD</code>.</p></body></html>"""


def reports_root() -> Path:
    from tasks.settings import get_settings

    return get_settings().reports_root


@lru_cache(maxsize=4)
def _static(folder: Path) -> "StaticFiles":
    from starlette.staticfiles import StaticFiles

    return StaticFiles(directory=folder, html=True, check_dir=False)


def create_reports_app(root: Path | None = None, require_login: bool = True) -> "FastAPI":
    """The app serving ``root`` (default: the settings' reports folder, resolved per request, so
    importing the plugin reads no setting). ``require_login``: only users Airflow authenticated
    (the plugin); a test of the files alone passes False."""
    from fastapi import Depends, FastAPI, Request, Response
    from fastapi.responses import HTMLResponse

    async def require_airflow_user(request: Request) -> None:
        """Airflow's own check (``get_user``: a bearer token, else the UI's ``_token`` cookie, else
        the user its token-refresh middleware resolved): 401/403 for anyone it did not log in."""
        from airflow.api_fastapi.core_api.security import get_user
        from fastapi.security import HTTPAuthorizationCredentials

        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        await get_user(request, None, HTTPAuthorizationCredentials(scheme=scheme, credentials=token)
                       if token else None)

    dependencies = [Depends(require_airflow_user)] if require_login else []
    app = FastAPI(title="ecomflow reports", dependencies=dependencies, docs_url=None, redoc_url=None,
                  openapi_url=None)

    def folder() -> Path:
        return root or reports_root()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    @app.get("/index.html", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        page = folder() / "index.html"
        if page.is_file():
            return HTMLResponse(page.read_text(encoding="utf-8"))
        return HTMLResponse(_NO_REPORTS.format(root=folder()), status_code=404)

    # Starlette's StaticFiles does the file serving (path checks, index.html of a folder, ETags),
    # called from a route rather than mounted: a mount would skip the app's login dependency.
    @app.get("/{path:path}", include_in_schema=False)
    async def report_file(path: str, request: Request) -> Response:
        return await _static(folder()).get_response(path, request.scope)

    return app
