"""Headless Chromium for the tests that look at what people look at: the Airflow UI, the dbt docs
site and the GX Data Docs.

Playwright drives the *system* Chromium (Debian's ``chromium``, installed by
``scripts/install_browser.sh``, which ``make test`` runs) through its executable path, so no
browser is downloaded. Every page a test checks is saved as a screenshot under
``tests/artefacts/browser/`` (git-ignored; CI keeps the folder), so a failure can be looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ARTEFACTS = Path(__file__).resolve().parents[1] / "artefacts" / "browser"


def chromium_path() -> str:
    """The system browser; a clear failure (not a skip) when the setup step did not install it."""
    for candidate in (os.environ.get("ECOMFLOW_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.fail("no Chromium on this machine: run scripts/install_browser.sh (make test does)")


class Browser:
    """One headless page; ``shot`` saves a named screenshot as a test artefact."""

    def __init__(self, page: Any, prefix: str) -> None:
        self.page = page
        self.prefix = prefix
        self.shots: list[Path] = []
        #: URLs an ``offline`` browser refused to fetch (anything not local)
        self.blocked: list[str] = []

    def shot(self, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{self.prefix}_{len(self.shots) + 1:02d}_{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def wait_for_text(self, text: str, timeout_s: float = 30) -> None:
        """Wait until ``text`` is visible on the page (a clear message when it never is)."""
        try:
            self.page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout_s * 1000)
        except Exception as exc:  # playwright's TimeoutError: say what was on the page instead
            self.shot("missing_text")
            body = self.page.inner_text("body")[:2000]
            raise AssertionError(f"{text!r} not visible on {self.page.url} after {timeout_s} s; page:\n{body}") from exc


@contextmanager
def browser(prefix: str, offline: bool = False) -> Iterator[Browser]:
    """A headless Chromium page. ``offline``: every request that leaves 127.0.0.1/file:// is
    aborted, so a page that needs a CDN shows it (how a machine without internet sees it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = chromium.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(30_000)
            b = Browser(page, prefix)
            if offline:
                def route(r: Any) -> None:
                    url = r.request.url
                    if url.startswith(("file:", "data:", "blob:", "http://127.0.0.1", "http://localhost")):
                        r.continue_()
                    else:
                        b.blocked.append(url)
                        r.abort()
                context.route("**/*", route)
            yield b
        finally:
            chromium.close()


def airflow_password(airflow_home: Path, user: str = "admin") -> str:
    """The generated password of the local simple-auth user (what `make ui` prints)."""
    return json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())[user]


def airflow_login(b: Browser, url: str, airflow_home: Path) -> None:
    """Log in on the UI's login form, as a person does."""
    page = b.page
    page.goto(f"{url}/auth/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", airflow_password(airflow_home))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/auth/login" not in u, timeout=30_000)
    page.wait_for_load_state("networkidle")


def task_url(url: str, dag_id: str, run_id: str, task_id: str) -> str:
    return f"{url}/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/{task_id}"


def poll(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 2.0) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
