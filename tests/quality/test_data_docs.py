"""GX Data Docs name the DAG and partition of each checkpoint run and open offline.

A real checkpoint builds the docs; the pages must then load every script and stylesheet from
the site itself (GX's templates point at CDNs, and the index draws its list with
bootstrap-table, so a CDN link left behind means an empty index without internet).
"""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from ecomflow_airflow.operators import GXCheckpointOperator

from tasks.partitions import Partition
from tasks.quality import data_docs_assets, gx_runner
from tasks.quality.data_docs_assets import _manifest, is_fetched, localize_page, localize_site
from tasks.quality.gx_runner import DataQualityError, _default_run_name
from tasks.quality.pipeline_checks import data_docs_run_name, run_suites_for_partition
from tasks.warehouse import replace_partition
from tests.quality.test_gx_suites import PART, _events, _load_log

D = date(2026, 1, 2)
CONTEXT = {"data_interval_start": datetime(2026, 1, 2), "data_interval_end": datetime(2026, 1, 3),
           "logical_date": datetime(2026, 1, 2), "run_id": "test-run", "params": {}}


class _Loads(HTMLParser):
    """What a browser fetches to draw the page: script sources and stylesheets."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.cors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        url = None
        if tag == "script" and a.get("src"):
            url = a["src"]
        elif tag == "link" and "stylesheet" in (a.get("rel") or "") and a.get("href"):
            url = a["href"]
        if url:
            self.urls.append(url)
            if "crossorigin" in a or "integrity" in a:
                self.cors.append(url)


def _loads(page: Path) -> _Loads:
    parser = _Loads()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _site_of(summary: dict) -> Path:
    return Path(summary["data_docs_path"]).parent


def test_checkpoint_docs_name_the_partition_and_load_nothing_remote(isolated_home: Path) -> None:
    assert is_fetched(), "no offline Data Docs assets: run `make setup` (scripts/setup_env.sh)"
    replace_partition("raw.events", _events(), PART)
    summaries = run_suites_for_partition(["raw_events"], Partition(D, 10), "ingest", dag_id="ecomflow_hourly")
    site = _site_of(summaries[0])
    run_name = "ecomflow_hourly dt=2026-01-02 hr=10"

    [page] = (site / "validations" / "raw_events" / run_name).rglob("*.html")
    assert run_name in page.read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert run_name in index
    # The index's table data (drawn by bootstrap-table) links this validation's page.
    assert quote(page.relative_to(site).as_posix()) in index

    pages = list(site.rglob("*.html"))
    assert len(pages) == 3  # index, the suite, the validation
    for html in pages:
        loads = _loads(html)
        assert len(loads.urls) >= 10, f"{html.name}: GX's templates changed? {loads.urls}"
        remote = [u for u in loads.urls if u.startswith(("http://", "https://", "//"))]
        assert not remote, f"{html.relative_to(site)} still loads from the internet: {remote}"
        missing = [u for u in loads.urls if not (html.parent / unquote(u)).resolve().is_file()]
        assert not missing, f"{html.relative_to(site)} points at files the site lacks: {missing}"
        assert not loads.cors, f"browsers refuse CORS attributes on file:// loads: {loads.cors}"


def test_a_gate_renders_data_docs_once_with_every_suites_pages(isolated_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A gate of several suites renders the site once (not once per checkpoint), and every
    validation run still has its page, its suite's page and its row in the index; a failed
    suite's page is there too when the gate raises."""
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext

    builds: list[object] = []
    real_build = AbstractDataContext.build_data_docs

    def counted(self: AbstractDataContext, *args: object, **kwargs: object) -> object:
        builds.append(kwargs.get("resource_identifiers"))
        return real_build(self, *args, **kwargs)

    monkeypatch.setattr(AbstractDataContext, "build_data_docs", counted)
    # ... and loads the file context once, under one hold of its lock, for all its suites.
    import great_expectations as gx

    loads, locks = [], []
    real_get_context, real_lock = gx.get_context, gx_runner._gx_lock
    monkeypatch.setattr(gx, "get_context", lambda *a, **k: loads.append(1) or real_get_context(*a, **k))
    monkeypatch.setattr(gx_runner, "_gx_lock", lambda root: locks.append(1) or real_lock(root))
    replace_partition("raw.events", _events(), PART)
    replace_partition("audit.load_log", _load_log([4], [4], [0]), PART)
    suites = ["raw_events", "audit_load_log"]
    run_suites_for_partition(suites, Partition(D, 10), "ingest", dag_id="warm_up")  # the context's first save
    builds.clear()
    loads.clear()
    locks.clear()
    summaries = run_suites_for_partition(suites, Partition(D, 10), "ingest", dag_id="ecomflow_hourly")
    assert len(builds) == 1, builds
    assert (len(loads), len(locks)) == (1, 1), (loads, locks)
    site, run_name = _site_of(summaries[0]), "ecomflow_hourly dt=2026-01-02 hr=10"
    index = (site / "index.html").read_text(encoding="utf-8")
    for suite in suites:
        [page] = (site / "validations" / suite / run_name).rglob("*.html")
        assert quote(page.relative_to(site).as_posix()) in index, suite
        assert (site / "expectations" / f"{suite}.html").is_file(), suite
        assert not [u for u in _loads(page).urls if u.startswith(("http://", "https://", "//"))]

    replace_partition("audit.load_log", _load_log([5], [4], [0]), PART)  # 5 in, 4 accepted, 0 quarantined
    with pytest.raises(DataQualityError, match="audit_load_log"):
        run_suites_for_partition(suites, Partition(D, 10), "ingest", dag_id="ecomflow_hourly")
    assert len(builds) == 2, builds
    assert len(list((site / "validations" / "audit_load_log" / run_name).rglob("*.html"))) == 2


def test_the_index_lists_only_the_newest_runs(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GX's ``validation_results_limit`` bounds the index and older results leave GX's store (the
    cost of both grows with every run kept); older runs keep their pages."""
    monkeypatch.setattr(gx_runner, "DOCS_INDEX_RUNS", 2)
    replace_partition("raw.events", _events(), PART)
    for dag_id in ("first_dag", "second_dag", "third_dag"):
        summary = run_suites_for_partition(["raw_events"], Partition(D, 10), "ingest", dag_id=dag_id)[0]
    site = _site_of(summary)
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "second_dag dt=" in index and "third_dag dt=" in index
    assert "first_dag dt=" not in index
    assert list((site / "validations" / "raw_events" / "first_dag dt=2026-01-02 hr=10").rglob("*.html"))
    # GX's store keeps the newest two results too (it is listed several times per gate); the
    # older one moved to the archive, nothing deleted.
    uncommitted = isolated_home / "gx" / "gx" / "uncommitted"
    kept = {p.parts[-3] for p in (uncommitted / "validations").glob("*/*/*/*.json")}
    archived = {p.parts[-3] for p in (uncommitted / "validations_archive").glob("*/*/*/*.json")}
    assert kept == {"second_dag dt=2026-01-02 hr=10", "third_dag dt=2026-01-02 hr=10"}, kept
    assert archived == {"first_dag dt=2026-01-02 hr=10"}, archived


def test_gx_config_variables_lose_their_comment_header_only(tmp_path: Path) -> None:
    """GX re-reads this file for every value it substitutes: its scaffolded comments go, its values stay."""
    path = tmp_path / "gx" / "uncommitted" / "config_variables.yml"
    path.parent.mkdir(parents=True)
    path.write_text("\n# This config file supports variable substitution\n#\ninstance_id: 2aadd43d-21d8\n")
    gx_runner._strip_config_variables_comments(tmp_path)
    assert path.read_text() == "instance_id: 2aadd43d-21d8\n"
    kept = "# a shop's own secret\nkey: |\n  # not a comment inside a block\n"
    path.write_text(kept)
    gx_runner._strip_config_variables_comments(tmp_path)
    assert path.read_text() == kept


def test_operator_names_runs_after_its_dag(isolated_home: Path) -> None:
    from airflow.sdk import DAG

    replace_partition("raw.events", _events(), PART)
    with DAG("ecomflow_daily", schedule=None):
        op = GXCheckpointOperator(task_id="gx_raw", suites=["raw_events"], scope="ingest", cadence="daily")
    [summary] = op.execute(CONTEXT)
    assert (_site_of(summary) / "validations" / "raw_events" / "ecomflow_daily dt=2026-01-02").is_dir()


def test_run_names() -> None:
    assert data_docs_run_name("ecomflow_daily", Partition(D)) == "ecomflow_daily dt=2026-01-02"
    assert data_docs_run_name("ecomflow_hourly", Partition(D, 3)) == "ecomflow_hourly dt=2026-01-02 hr=03"
    # run_suite called directly: the suite's own partition, without the ':' and '/' of timestamps.
    assert _default_run_name({"as_of_date": D, "as_of_hour": datetime(2026, 1, 2, 5)}) == (
        "as_of_date=2026-01-02 as_of_hour=2026-01-02T05")
    assert _default_run_name({"as_of_date": D, "as_of_hour": None}) == "as_of_date=2026-01-02 as_of_hour=null"
    assert _default_run_name({}) == "whole table"


PAGE = """<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<link rel="preconnect" href="https://example.org">
<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" integrity="sha384-x" crossorigin="anonymous"></script>
<script src="https://cdn.example.org/new-lib@2"></script>
</head><body><a href="https://greatexpectations.io">GX</a></body></html>
"""


def test_localize_page_rewrites_known_urls_relative_to_the_page(tmp_path: Path) -> None:
    page = tmp_path / "validations" / "suite" / "run" / "page.html"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE)
    unknown = localize_page(page, tmp_path)
    html = page.read_text()
    assert 'href="../../../static/vendor/bootstrap-4.3.1/dist/css/bootstrap.min.css"' in html
    assert '<script src="../../../static/vendor/bootstrap-4.3.1/dist/js/bootstrap.min.js"></script>' in html
    assert unknown == ["https://cdn.example.org/new-lib@2"]  # kept, and reported
    assert 'src="https://cdn.example.org/new-lib@2"' in html
    assert 'href="https://example.org"' in html  # not a stylesheet
    assert 'href="https://greatexpectations.io"' in html  # a link, not a load


def _fake_vendor(root: Path) -> Path:
    vendor = root / "vendor"
    vendor.mkdir()
    (vendor / data_docs_assets.MANIFEST).write_text(_manifest())
    return vendor


def test_localize_site_rewrites_new_pages_and_every_page_once(tmp_path: Path, caplog) -> None:
    site = tmp_path / "site"
    site.mkdir()
    old, new = site / "old.html", site / "new.html"
    for page in (old, new):
        page.write_text(PAGE)
    os.utime(old, (time.time() - 3600, time.time() - 3600))

    assert localize_site(site, modified_since=time.time(), vendor_dir=tmp_path / "none") == 0
    assert "keep their CDN links" in caplog.text
    assert old.read_text() == PAGE

    vendor = _fake_vendor(tmp_path)
    # First time the site gets the assets: every page, however old.
    assert localize_site(site, modified_since=time.time(), vendor_dir=vendor) == 2
    assert (site / "static" / "vendor" / data_docs_assets.MANIFEST).is_file()
    assert "bootstrapcdn" not in old.read_text()
    # Afterwards only what the build wrote.
    old.write_text(PAGE)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    new.write_text(PAGE)
    assert localize_site(site, modified_since=time.time() - 1, vendor_dir=vendor) == 1
    assert "bootstrapcdn" in old.read_text()
    assert "bootstrapcdn" not in new.read_text()


def _non_empty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def test_setup_fetched_every_listed_file() -> None:
    """CDN_FILES and the fonts their stylesheets load, as ``scripts/setup_env.sh`` leaves them."""
    missing = [f"{package}/{path}" for package, paths in data_docs_assets._wanted().items() for path in paths
               if not _non_empty(data_docs_assets.VENDOR_DIR / data_docs_assets._package_dir(package) / path)]
    assert not missing
