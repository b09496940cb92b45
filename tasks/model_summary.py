"""The models block of ``ecomflow summary``: one line per model, not a metric dump.

A person reading the end of ``make run`` wants to know, per model, what serves and whether it
earns its place: the serving version, its main metric on the time-based holdout, the best
baseline on that same holdout (name and value), and a verdict. The main metric is the recipe's
own (``tasks.evaluate.main_metric``) and the model list is the training catalogue plus whatever
the registry holds, so a new model appears here without touching this file.

Verdicts:

- ``served: beats best baseline by +0.0700 hr_at_10`` (a learned champion; the sign is the
  improvement in the metric's own direction, so a lower-is-better WAPE gain is positive too);
- ``baseline served (learned model wape 1.0134)`` (the recipe's learned model lost on the
  holdout, so a baseline is the champion and is its own best baseline; docs/CONTRACTS.md);
- ``not trained: <reason>`` (no champion: the source lacks the model's inputs, or the last
  decision in ``ml.promotion_log`` says why, e.g. a failed sanity check).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

NO_CHAMPION_DECISIONS = ("rejected_sanity", "rejected_baseline", "kept_champion")


@dataclass(frozen=True)
class ModelLine:
    """What one line of the table says (kept separate from the text so tests read fields)."""

    model: str
    version: str
    main_metric: str
    value: float | None
    baseline: str | None  # the best baseline's name
    baseline_value: float | None
    verdict: str


def _metrics(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}


def _main_metric(model: str) -> tuple[str | None, bool]:
    from tasks.evaluate import main_metric

    try:
        return main_metric(model)
    except (KeyError, ImportError, AttributeError):  # a registry model no recipe declares any more
        return None, True


def _not_trained_reason(model: str) -> str:
    """Why a catalogue model has no champion: its last decision, else its missing inputs."""
    from tasks.applicability import skip_reason
    from tasks.train.registry import decisions

    log = decisions(model)
    if not log.empty:
        last = log.iloc[-1]
        return f"{last['decision']} {last['version']}: {last['reason']}"
    try:
        missing = skip_reason("model", model, datetime.max)
    except KeyError:
        missing = None
    if missing:
        return missing.split(" before ")[0].replace(f"model {model} is skipped: ", "")
    return "no version registered (see the training task's log)"


def model_lines() -> list[ModelLine]:
    """One :class:`ModelLine` per catalogue model and per model with a champion."""
    from tasks import pipeline_catalogue
    from tasks.train.registry import best_baseline, champion, finite_or_none
    from tasks.warehouse import read_frame, table_exists

    registered: list[str] = []
    if table_exists("ml.model_registry"):
        registered = list(read_frame("SELECT DISTINCT model FROM ml.model_registry ORDER BY model")["model"])
    lines = []
    for model in dict.fromkeys([*pipeline_catalogue.models(), *registered]):
        metric, higher = _main_metric(model)
        entry = champion(model) if model in registered else None
        if entry is None:
            lines.append(ModelLine(model, "-", metric or "-", None, None, None,
                                   f"not trained: {_not_trained_reason(model)}"))
            continue
        value = finite_or_none(_metrics(entry.metrics).get(metric)) if metric else None
        # a served baseline's rivals include the learned model ("learned:<model>"): not a baseline
        rivals = {n: m for n, m in entry.baseline_metrics.items() if not n.startswith("learned:")}
        learned = finite_or_none((entry.baseline_metrics.get(f"learned:{model}") or {}).get(metric))
        best = best_baseline(rivals, metric, higher) if metric else None
        name, base = best if best else (None, None)
        if "-baseline_" in entry.version:
            served = entry.version.split("-baseline_", 1)[1].split("-", 1)[0]
            name, base = served, value  # the served baseline won: it is the best one
            verdict = "baseline served" + ("" if learned is None else f" (learned model {metric} {_cell(learned)})")
        elif value is None or base is None:
            verdict = "served: no baseline to compare on " + (metric or "its main metric")
        else:
            gain = (value - base) if higher else (base - value)
            verdict = (f"served: beats best baseline by {gain:+.4f} {metric}" if gain > 0
                       else f"served: does not beat best baseline ({gain:+.4f} {metric})")
        lines.append(ModelLine(model, entry.version, metric or "-", value, name, base, verdict))
    return lines


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"


def model_table(lines: list[ModelLine] | None = None) -> list[str]:
    """The summary's models block as text lines (header, then one line per model)."""
    lines = model_lines() if lines is None else lines
    rows = [("model", "version", "main metric", "best baseline", "verdict")]
    for line in lines:
        main = "-" if line.value is None else f"{line.main_metric} {_cell(line.value)}"
        base = "-" if line.baseline is None else f"{line.baseline} {_cell(line.baseline_value)}"
        rows.append((line.model, line.version, main, base, line.verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["models (champion vs best baseline, main metric on the time-based holdout):"] + [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows]
