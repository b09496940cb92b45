"""``ecomflow evaluate``: every applicable model vs every baseline, as a table per model.

Run after the DAGs have loaded a data set into ``$ECOMFLOW_HOME`` (``make evaluate`` does
both for synthetic S/M and the two real data sets). For the daily partition that
``ecomflow plan`` picks, each model whose inputs exist is trained *now* (forced,
through the same recipe and promotion gate the DAGs use) and its metrics on the
time-based holdout are printed next to each baseline's on exactly the same rows.
The rows also go to ``ml.evaluations`` with ``dataset = <label>``, so BI can chart
model vs baselines per data set over time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from tasks.applicability import skip_reason
from tasks.partitions import Partition

log = logging.getLogger(__name__)

# How each recipe splits time (kept next to the table so a reader never has to guess).
HOLDOUT_PROTOCOL = {
    "recommender": "train on interactions before the split; predict each user's next item(s) in the "
                   "last days before as-of (time-based split, no user's future in training)",
    "session_intent": "sessions ordered by start time; the latest sessions before as-of are the holdout, "
                      "the model and thresholds are fitted on earlier sessions only",
    "demand_forecaster": "series (at the data's grain: daily, weekly or monthly) up to a forecast origin; "
                         "the next periods up to as-of are the holdout (28 days / 8 weeks / 3 months, or "
                         "what the data allows: eval_days counts periods)",
    "risk": "transactions ordered by time; the latest ones before as-of are the holdout; calibration "
            "and threshold on an earlier validation slice",
    "campaign_uplift": "whole past campaigns ordered by send time; the latest quarter of them are the holdout "
                       "(randomised treated/control inside each), the ones before pick the epoch; features "
                       "only from history before each send",
    "pricing": "product x day units at the prices shown; the last 14 days before as-of are the holdout, every "
               "candidate (hierarchical elasticity, no / global / category elasticity) is fitted on the days "
               "before and predicts units at the holdout's actual prices",
    "inventory_policy": "daily demand per product; the last 28 days before as-of (fewer on short data) are "
                        "replayed with their actual demand, lead times, packs and MOQs under each policy, every "
                        "policy seeing only sales before each review day; the default service level is chosen on "
                        "the same-length slice before it. Main metric turnover_at_fill = annualised turnover when "
                        "the fill rate is >= the best baseline's fill rate on the same replay, else 0",
    "search_ranker": "searches of the last days before as-of are the holdout (later than every training "
                     "search); each shown list re-ranked by the model and by BM25 (rank_bm25) and BM25 + "
                     "popularity; features only from data before the search's day",
}
LOWER_IS_BETTER = frozenset({"wape", "mase", "pinball", "price_wape", "ece", "brier", "changed_price_wape",
                             "poisson_deviance"})


def main_metric(model: str) -> tuple[str, bool]:
    """(the recipe's own MAIN_METRIC, higher is better) — read from the recipe, never copied."""
    import importlib

    from tasks.train.pipeline import TRAINERS

    metric = importlib.import_module(TRAINERS[model]).MAIN_METRIC
    return metric, metric not in LOWER_IS_BETTER


@dataclass
class ModelEvaluation:
    model: str
    status: str
    version: str | None
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    window: str
    reason: str = ""


def evaluate_models(as_of_date: date, run_id: str, models: Iterable[str] | None = None) -> list[ModelEvaluation]:
    """Train (forced) every applicable model as of ``as_of_date``; return metrics vs baselines."""
    from tasks.train.pipeline import TRAINERS
    from tasks.train.registry import champion
    from tasks.train.retrain import retrain_partition

    partition = retrain_partition(as_of_date)
    results = []
    for model in models or TRAINERS:
        reason = skip_reason("model", model, partition.as_of)
        if reason:
            results.append(ModelEvaluation(model, "not_applicable", None, {}, {}, "", reason))
            continue
        import importlib

        result = importlib.import_module(TRAINERS[model]).train(as_of_date, run_id)
        window = f"{result.window.start:%Y-%m-%d} .. {result.window.end:%Y-%m-%d}" if result.window else ""
        champ = champion(model)
        results.append(ModelEvaluation(model, result.status, result.version, dict(result.metrics),
                                       dict(result.baseline_metrics or {}), window,
                                       result.reason or (f"champion now {champ.version}" if champ else "")))
    return results


def write_dataset_evaluations(label: str, as_of_date: date, evaluations: list[ModelEvaluation]) -> None:
    """Copy each trained model's rows into ``ml.evaluations`` under ``dataset = label``."""
    from tasks.train.registry import write_evaluations

    for ev in evaluations:
        if ev.version is None or not ev.metrics:
            continue
        write_evaluations(model=ev.model, version=ev.version, as_of_date=as_of_date, metrics=ev.metrics,
                          baselines=ev.baselines, main_metric=main_metric(ev.model)[0], champion_version=None,
                          champion_value=None, dataset=label)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def served_candidate(version: str | None) -> str:
    """What a registered version serves: ``learned`` or ``baseline <name>`` (a baseline that won
    its holdout is registered as ``<model>-baseline_<name>-<date>-<hash>``, docs/CONTRACTS.md)."""
    if version and "-baseline_" in version:
        return "baseline " + version.split("-baseline_", 1)[1].split("-", 1)[0]
    return "learned"


def format_tables(label: str, as_of_date: date, evaluations: list[ModelEvaluation]) -> str:
    """One markdown table per model: metrics as rows; the registered candidate (the learned model,
    or the baseline that beat it) and each other candidate as columns."""
    out = [f"## {label} — as of {as_of_date} (data before {as_of_date} 00:00 UTC)", ""]
    for ev in evaluations:
        out.append(f"### {ev.model}")
        if ev.status in ("not_applicable", "skipped"):
            out += [f"{ev.status}: {ev.reason}", ""]
            continue
        main, higher = main_metric(ev.model)
        out.append(f"holdout protocol: {HOLDOUT_PROTOCOL.get(ev.model, '')}; data window {ev.window}; "
                   f"version {ev.version} -> {ev.status}")
        names = list(ev.baselines)
        served = served_candidate(ev.version)
        out.append(f"| metric | {served} | " + " | ".join(names) + " |")
        out.append("|---|---|" + "---|" * len(names))
        for metric in sorted(ev.metrics):
            flag = " (main, " + ("higher" if higher else "lower") + " is better)" if metric == main else ""
            cells = [_fmt(ev.metrics[metric])] + [_fmt(ev.baselines[n].get(metric)) for n in names]
            out.append(f"| {metric}{flag} | " + " | ".join(cells) + " |")
        if main in ev.metrics and names:
            best = [(n, ev.baselines[n].get(main)) for n in names if ev.baselines[n].get(main) is not None]
            if best:
                name, value = (max if higher else min)(best, key=lambda item: item[1])
                model_value = ev.metrics[main]
                ratio = model_value / value if value else float("nan")
                verdict = "beats" if (model_value > value if higher else model_value < value) else "does NOT beat"
                out.append(f"\n{served} {verdict} the best other candidate ({name}) on {main}: "
                           f"{_fmt(model_value)} vs {_fmt(value)} (ratio {ratio:.3f})")
        out.append("")
    return "\n".join(out)


def evaluate(label: str, as_of_date: date | None = None, run_id: str | None = None) -> str:
    """Evaluate on the loaded data; returns the printed tables."""
    if as_of_date is None:
        from tasks.cli import plan

        as_of_date = Partition.parse(plan()["DAILY_PARTITION"]).as_of.date()
    evaluations = evaluate_models(as_of_date, run_id or f"evaluate__{label}__{as_of_date}")
    write_dataset_evaluations(label, as_of_date, evaluations)
    return format_tables(label, as_of_date, evaluations)
