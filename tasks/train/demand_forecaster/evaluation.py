"""Holdout metrics of any (P, days, 4) forecast: the learned model, a baseline or the
champion are scored by this one function on the same cells."""

from __future__ import annotations

import math

import numpy as np

from tasks.train.demand_forecaster.config import QUANTILES
from tasks.train.demand_forecaster.features import price_targets
from tasks.train.demand_forecaster.panel import Panel
from tasks.train.metrics import interval_coverage, mase, pinball_loss, wape


def _finite(values: dict[str, float | None]) -> dict[str, float]:
    """Drop undefined metrics: NaN/inf are not JSON and mean "not measurable here"."""
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def forecast_metrics(panel: Panel, origin: int, pred: np.ndarray) -> dict[str, float]:
    """Metrics of (P, days, 4) forecasts against the panel's periods ``origin..``: WAPE
    (P50), MASE (in-sample = periods before the origin, the grain's season), P10-P90
    coverage, mean pinball, and price WAPE on periods with an observed price. Metrics
    that are undefined on this holdout (e.g. price WAPE without prices) are absent."""
    days = pred.shape[1]
    season = {"daily": 7, "weekly": 52, "monthly": 12}[panel.grain]
    actual = panel.units[:, origin:origin + days]
    py, pmask, last = price_targets(panel, origin, days)
    pmask = pmask > 0
    price_actual = np.where(pmask, last[:, None] * np.exp(py), 0.0)
    return _finite({
        "wape": wape(actual, pred[..., 1]),
        "mase": mase(actual, pred[..., 1], panel.units[:, :origin], season=season),
        "coverage_p10_p90": interval_coverage(actual, pred[..., 0], pred[..., 2]),
        "pinball": float(np.mean([pinball_loss(actual, pred[..., i], q) for i, q in enumerate(QUANTILES)])),
        "price_wape": wape(price_actual[pmask], pred[..., 3][pmask]) if pmask.any() else None,
        "eval_days": float(days),
    })
