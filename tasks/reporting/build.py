"""``build_reports(day)``: the day's report pages and the index of all reports.

Layout under ``settings.reports_root`` (``$ECOMFLOW_HOME/reports``)::

    index.html                      every DAG run with reports, newest first
    <dag>/<dt>/index.html           the run's models and the day's pipeline runs
    <dag>/<dt>/<model>.html         one model's report

A re-run of a day rewrites that day's folder (files are written to a temporary name and
renamed, so the plugin never serves half a page) and the index; the output depends only on the
warehouse and the artefacts, so it is the same bytes for the same data.

Command line: ``ecomflow report YYYY-MM-DD`` (prints the index path).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tasks.reporting.data import open_reader, pipeline_runs
from tasks.reporting.pages import render
from tasks.reporting.sections import ModelReport, model_report
from tasks.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_DAG = "ecomflow_daily"


@dataclass(frozen=True)
class BuiltReports:
    index: Path  # the index of all reports
    day_index: Path  # this run's page
    pages: dict[str, Path]  # model -> its report
    seconds: float


def reported_models(tables: set[str]) -> list[str]:
    """The catalogue's models, then any other model the registry or monitoring knows (a model
    retired from the catalogue still has its history)."""
    from tasks import pipeline_catalogue
    from tasks.warehouse import read_frame

    models = list(pipeline_catalogue.models())
    for table in ("ml.model_registry", "monitoring.realised_metrics", "monitoring.feature_drift",
                  "monitoring.prediction_drift"):
        if table in tables:
            models += [m for m in read_frame(f"SELECT DISTINCT model FROM {table}")["model"].astype(str)
                       if m not in models]
    return models


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_index(root: Path) -> Path:
    """``root/index.html`` listing every ``<dag>/<dt>/`` folder that holds reports."""
    runs = []
    for day_dir in sorted(root.glob("*/*/index.html"), key=lambda p: (p.parent.name, p.parent.parent.name),
                          reverse=True):
        folder = day_dir.parent
        models = sorted(p.stem for p in folder.glob("*.html") if p.name != "index.html")
        runs.append({"dag": folder.parent.name, "day": folder.name, "models": models})
    index = root / "index.html"
    _write(index, render("index", runs=runs))
    return index


def latest_monitored_day() -> date | None:
    """The newest daily partition any task recorded in ``monitoring.pipeline_runs`` (None: none)."""
    from tasks.warehouse import read_frame, table_exists

    if not table_exists("monitoring.pipeline_runs"):
        return None
    value = read_frame("SELECT MAX(dt) AS d FROM monitoring.pipeline_runs")["d"].iloc[0]
    return None if value is None or value != value else date.fromisoformat(str(value)[:10])


def build_reports(day: date, dag: str = DEFAULT_DAG, models: list[str] | None = None) -> BuiltReports:
    """Write every model's report for the monitoring day ``day`` of ``dag``, the run's page and
    the index; returns their paths."""
    started = time.perf_counter()
    root = get_settings().reports_root
    folder = root / dag / day.isoformat()
    reader = open_reader()
    reports: list[ModelReport] = [model_report(reader, m, day) for m in (models or reported_models(reader.tables))]
    pages = {}
    for report in reports:
        pages[report.model] = folder / f"{report.model}.html"
        _write(pages[report.model], render("model", report=report, dag=dag))
    runs = pipeline_runs(reader, day)
    day_index = folder / "index.html"
    _write(day_index, render("day", dag=dag, day=day, reports=reports, runs=runs))
    for stale in folder.glob("*.html"):  # a model no longer reported (re-run after a catalogue change)
        if stale != day_index and stale not in pages.values():
            stale.unlink()
    index = write_index(root)
    seconds = time.perf_counter() - started
    log.info("reports of %s %s: %d models, %d charts in %.2f s -> %s", dag, day, len(reports),
             sum(r.charts for r in reports), seconds, day_index)
    return BuiltReports(index=index, day_index=day_index, pages=pages, seconds=seconds)
