"""Realised metrics: every served output scored against what happened, once that is known.

One evaluator per serving table (``EVALUATORS``); ``compute_realised_metrics`` runs them for
a monitoring day and replaces that day's rows of ``monitoring.realised_metrics`` per model.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd

from tasks.monitoring.realised import (
    campaign_audiences,
    demand_forecasts,
    inventory_actions,
    price_recommendations,
    recommendations,
    risk_labels,
    search_rankings,
    session_intent,
)
from tasks.monitoring.realised.common import Evaluation, RealisedConfig
from tasks.monitoring.tables import REALISED_METRICS, write_partition

EVALUATORS: dict[str, Callable[[date, RealisedConfig], Evaluation]] = {
    recommendations.MODEL: recommendations.evaluate,
    session_intent.MODEL: session_intent.evaluate,
    demand_forecasts.MODEL: demand_forecasts.evaluate,
    risk_labels.MODEL: risk_labels.evaluate,
    search_rankings.MODEL: search_rankings.evaluate,
    inventory_actions.MODEL: inventory_actions.evaluate,
    price_recommendations.MODEL: price_recommendations.evaluate,
    campaign_audiences.MODEL: campaign_audiences.evaluate,
}


def compute_realised_metrics(day: date, cfg: RealisedConfig | None = None) -> dict[str, Evaluation]:
    """Evaluate every model for monitoring day ``day``; each model's ``(dt, model)`` partition is
    replaced (emptied when skipped, so a re-run never leaves rows of an earlier, different run)."""
    cfg = cfg or RealisedConfig()
    out: dict[str, Evaluation] = {}
    for model, evaluate in EVALUATORS.items():
        evaluation = evaluate(day, cfg)
        frame = pd.DataFrame(evaluation.rows).assign(dt=day) if evaluation.rows else pd.DataFrame()
        write_partition(REALISED_METRICS, frame, {"dt": day, "model": model})
        out[model] = evaluation
    return out


__all__ = ["EVALUATORS", "Evaluation", "RealisedConfig", "compute_realised_metrics"]
