"""A model's report, section by section: each builder returns a chart (or table) or says why not.

Every model gets the generic sections, read the same way for any model: holdout metrics at
training and training curves (``ml.model_registry`` + the artefact's ``metrics.json``),
realised metrics over time (``monitoring.realised_metrics``: for the recommender that is
HR@10, NDCG@10 and coverage over time) and drift over time (``monitoring.feature_drift`` /
``prediction_drift``). A generic section with nothing to show says why in one line.

Kind-specific sections exist only for models whose output has that kind
(``OUTPUT_KINDS``): quantile forecasts get fan charts against the realised units, scores of
a yes/no outcome get precision-recall and calibration curves against the outcome. A new model
(inventory, pricing, ...) gets the generic sections without any change here; giving it a
kind-specific one is one entry in ``OUTPUT_KINDS``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from tasks.reporting import charts
from tasks.reporting.data import (
    LOOKBACK_DAYS,
    WarehouseReader,
    artefact_metrics,
    monitoring_rows,
    realised_units,
    registry,
    served_forecasts,
    served_scores,
    served_version,
)

#: Versions shown in the training sections (newest first).
MAX_VERSIONS = 4
#: Items in the fan charts: the best sellers of the window.
TOP_ITEMS = 6


@dataclass
class Section:
    """One block of a report page: a title, what it shows, and an SVG, a table or a why-not."""

    title: str
    explanation: str
    svg: str | None = None
    table: pd.DataFrame | None = None
    missing: str | None = None  # why there is nothing to show

    @property
    def has_content(self) -> bool:
        return self.svg is not None or self.table is not None


@dataclass
class ModelReport:
    model: str
    day: date
    sections: list[Section] = field(default_factory=list)
    champion: str | None = None
    headline: str = ""

    @property
    def charts(self) -> int:
        return sum(s.svg is not None for s in self.sections)


# ---------------------------------------------------------------- generic sections ----
def _json(text: object) -> dict:
    try:
        return json.loads(text) if isinstance(text, str) else dict(text or {})
    except (TypeError, ValueError):
        return {}


def _numbers(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))}


def holdout_metrics(reader: WarehouseReader, model: str, day: date, versions: pd.DataFrame) -> Section:
    section = Section("Holdout metrics at training",
                      "What each version scored on its time-based holdout when it was trained (data_end: "
                      "the end of its training data), next to the baselines it had to beat "
                      "(ml.model_registry). Promotion needs both.")
    if versions.empty:
        section.missing = f"no version of {model} registered by {day}"
        return section
    rows = []
    for r in versions.head(MAX_VERSIONS).itertuples(index=False):
        rows.append({"version": r.version, "status": r.status, "data_end": r.data_end,
                     **_numbers(_json(r.metrics))})
        for name, values in sorted(_json(r.baseline_metrics).items()):
            rows.append({"version": f"\u21b3 baseline {name}", "status": "", "data_end": None,
                         **_numbers(values if isinstance(values, dict) else {})})
    table = pd.DataFrame(rows)
    keep = ["version", "status", "data_end"] + [c for c in table.columns if c not in
                                                 ("version", "status", "data_end")][:8]
    section.table = table[keep]
    return section


def training_curves(reader: WarehouseReader, model: str, day: date, versions: pd.DataFrame) -> Section:
    section = Section("Training curves",
                      "Mean training loss per epoch of each version (from its artefact's metrics.json); "
                      "a star marks the epoch whose weights were kept (early stopping on the "
                      "validation slice). A curve still falling steeply at the end means more epochs "
                      "would help; a rising one, a too-high learning rate.")
    if versions.empty:
        section.missing = f"no version of {model} registered by {day}"
        return section
    curves: dict[str, dict[str, list[float]]] = {}
    best: dict[str, int | None] = {}
    why: list[str] = []
    for r in versions.head(MAX_VERSIONS).itertuples(index=False):
        doc = artefact_metrics(r.artefact_uri)
        if doc is None:
            why.append(f"{r.version}: artefact metrics.json not found at {r.artefact_uri}")
            continue
        series = {k: [float(x) for x in v] for k, v in doc.items()
                  if k.endswith("history") and isinstance(v, list) and v
                  and all(isinstance(x, int | float) for x in v)}
        if not series:
            why.append(f"{r.version}: its artefact records no per-epoch history (a served baseline, or a "
                       "model fitted without epochs)")
            continue
        curves[str(r.version)] = series
        best[str(r.version)] = int(doc["best_epoch"]) if isinstance(doc.get("best_epoch"), int) else None
    if curves:
        section.svg = charts.training_curves(curves, best)
    else:
        section.missing = "; ".join(why)
    return section


def realised_over_time(reader: WarehouseReader, model: str, day: date) -> Section:
    section = Section("Realised metrics over time",
                      f"Served outputs scored against what happened once the truth was known "
                      f"(monitoring.realised_metrics), by the day the output was served, last "
                      f"{LOOKBACK_DAYS} days; one line per model version (forecasts: per horizon).")
    rows = monitoring_rows(reader, "monitoring.realised_metrics", model, day)
    if rows.empty:
        section.missing = (f"no realised metrics of {model} in the {LOOKBACK_DAYS} days to {day}: its truth "
                           "window has not closed yet, the warehouse lacks its truth, or it serves nothing "
                           "(the monitoring task's log names the reason per day)")
        return section
    horizon = rows["horizon_days"]
    series = rows["model_version"].astype(str)
    if horizon.notna().any():  # forecasts: a line per horizon (the version is in the table below)
        series = "h=" + horizon.astype("Int64").astype(str) + "d"
        shown = sorted(horizon.dropna().astype(int).unique())
        if len(shown) > charts.MAX_LINES:  # keep an even spread of horizons, the first and last included
            keep = {shown[i] for i in np.linspace(0, len(shown) - 1, charts.MAX_LINES).round().astype(int)}
            mask = horizon.isna() | horizon.isin(keep)
            rows, series = rows[mask], series[mask]
    frame = pd.DataFrame({"metric": rows["metric"], "x": rows["output_as_of_date"], "series": series,
                          "value": rows["value"].astype(float)})
    frame = frame.groupby(["metric", "x", "series"], as_index=False)["value"].mean()
    section.svg = charts.metric_lines(frame, "x", "series")
    return section


def drift_over_time(reader: WarehouseReader, model: str, day: date) -> Section:
    from tasks.monitoring.thresholds import FEATURE, PREDICTION, load_thresholds

    section = Section("Drift over time",
                      "Population stability index (PSI) of each model input (feature drift) and output "
                      "(prediction drift) per day against the version's training reference; the dashed "
                      "line is the limit in tasks/monitoring/thresholds.yml (rule of thumb: < 0.1 stable, "
                      "> 0.2 a real shift). The columns with the highest PSI are shown.")
    thresholds = load_thresholds()
    parts = []
    for table, kind, label in (("monitoring.feature_drift", FEATURE, "input"),
                               ("monitoring.prediction_drift", PREDICTION, "output")):
        rows = monitoring_rows(reader, table, model, day)
        rows = rows[rows["psi"].notna()] if not rows.empty else rows
        if rows.empty:
            continue
        parts.append(pd.DataFrame({"metric": f"PSI of {label}s", "x": rows["dt"], "series": rows["column_name"],
                                   "value": rows["psi"].astype(float), "limit": thresholds.psi_max(model, kind)}))
    if not parts:
        section.missing = (f"no drift rows of {model} in the {LOOKBACK_DAYS} days to {day}: the serving version "
                           "has no stored training reference yet, or no input partition was scored")
        return section
    frame = pd.concat(parts, ignore_index=True)
    limits = frame.groupby("metric")["limit"].first().to_dict()
    section.svg = charts.metric_lines(frame.drop(columns="limit"), "x", "series", limits=limits)
    return section


# ---------------------------------------------------------------- kind-specific sections ----
def forecast_fans(reader: WarehouseReader, model: str, day: date, table: str) -> Section:
    section = Section("Forecast fan charts vs actuals",
                      f"For the {TOP_ITEMS} best-selling items of the last {LOOKBACK_DAYS} days: the P10-P90 "
                      "band and P50 of the newest forecast served for each date, and the units actually "
                      "sold (black). Left of the dotted line (this run's day) the truth is known: about 8 "
                      "in 10 actual points should fall inside the band.")
    forecasts = served_forecasts(reader, table, day)
    if forecasts.empty:
        section.missing = f"no forecasts in {table} for the {LOOKBACK_DAYS} days to {day}"
        return section
    actuals = realised_units(reader, pd.Series(forecasts["item_id"].unique()), day)
    if not actuals.empty and actuals["units"].sum() > 0:
        top = actuals.groupby("item_id")["units"].sum().sort_values(ascending=False)
    else:
        top = forecasts.groupby("item_id")["p50"].sum().sort_values(ascending=False)
    items = [str(i) for i in top.index[:TOP_ITEMS]]
    section.svg = charts.fan_chart(items, forecasts, actuals, pd.Timestamp(day))
    return section


@dataclass(frozen=True)
class BinaryOutcome:
    """A served probability of a yes/no outcome, and where the outcome is recorded."""

    id_column: str
    score_column: str
    what: str  # the outcome, for the chart title
    outcomes: Callable[[list[str]], dict[str, bool]]  # ids -> outcome for the ids whose truth is known


def _session_outcomes(ids: list[str]) -> dict[str, bool]:
    from tasks.monitoring.realised.session_intent import session_outcomes

    return session_outcomes(ids).to_dict()


def _fraud_labels(ids: list[str]) -> dict[str, bool]:
    from tasks.monitoring.realised.risk_labels import fraud_labels

    return fraud_labels(ids)


def pr_calibration(reader: WarehouseReader, model: str, day: date, table: str, spec: BinaryOutcome) -> Section:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import average_precision_score, precision_recall_curve

    section = Section("Precision-recall and calibration",
                      f"Served {spec.score_column} of the last {LOOKBACK_DAYS} days against whether the "
                      f"{spec.what} (only rows whose truth is known). Left: precision at each recall when "
                      "acting on the top scores (AP = area; dotted = the base rate a random ranking gets). "
                      "Right: within each score bin, the observed rate; on the diagonal a score of 0.3 "
                      "means 30 %.")
    scores = served_scores(reader, table, spec.id_column, spec.score_column, day)
    if scores.empty:
        section.missing = f"nothing served in {table} in the {LOOKBACK_DAYS} days to {day}"
        return section
    scores = scores.assign(id=scores["id"].astype(str))
    truth = spec.outcomes(sorted(set(scores["id"])))
    known = scores[scores["id"].isin(truth.keys())]
    if known.empty:
        section.missing = f"the truth of none of the {len(scores)} rows of {table} is known yet"
        return section
    curves = {}
    skipped = []
    for version, part in known.groupby("model_version", sort=True):
        y = np.array([truth[i] for i in part["id"]], dtype=int)
        p = part["score"].to_numpy(dtype=float).clip(0, 1)
        if y.min() == y.max():
            skipped.append(f"{version}: all {len(y)} outcomes are {'yes' if y[0] else 'no'}")
            continue
        precision, recall, _ = precision_recall_curve(y, p)
        prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
        curves[str(version)] = {"precision": precision, "recall": recall, "ap": average_precision_score(y, p),
                                "prevalence": y.mean(), "prob_true": prob_true, "prob_pred": prob_pred,
                                "n": len(y)}
    if not curves:
        section.missing = "no curve can be drawn: " + "; ".join(skipped)
        return section
    section.svg = charts.pr_and_calibration(curves, spec.what)
    if skipped:
        section.explanation += " Not drawn: " + "; ".join(skipped) + "."
    return section


#: Kind-specific sections by model: (serving table, section builder). Models not listed get the
#: generic sections only.
OUTPUT_KINDS: dict[str, Callable[[WarehouseReader, str, date], Section]] = {
    "demand_forecaster": lambda r, m, d: forecast_fans(r, m, d, "serving.demand_forecasts"),
    "session_intent": lambda r, m, d: pr_calibration(r, m, d, "serving.session_intent", BinaryOutcome(
        "session_id", "p_purchase", "session bought", _session_outcomes)),
    "risk": lambda r, m, d: pr_calibration(r, m, d, "serving.risk_labels", BinaryOutcome(
        "transaction_id", "risk_score", "payment was fraud", _fraud_labels)),
}


def model_report(reader: WarehouseReader, model: str, day: date) -> ModelReport:
    """Every section of ``model``'s report for the monitoring day ``day``."""
    versions = registry(reader, model, day)
    report = ModelReport(model, day)
    # What served that day (point-in-time), else today's champion among the day's versions.
    report.champion = served_version(reader, model, day)
    if report.champion is None and not versions.empty:
        champions = versions[versions["status"] == "champion"]
        report.champion = str(champions["version"].iloc[0]) if not champions.empty else None
    report.sections = [holdout_metrics(reader, model, day, versions),
                       training_curves(reader, model, day, versions),
                       realised_over_time(reader, model, day)]
    if model in OUTPUT_KINDS:
        report.sections.append(OUTPUT_KINDS[model](reader, model, day))
    report.sections.append(drift_over_time(reader, model, day))
    shown = [s.title for s in report.sections if s.has_content]
    report.headline = (f"{len(shown)} of {len(report.sections)} sections have data" if shown
                       else "nothing to show yet (each section says why)")
    return report
