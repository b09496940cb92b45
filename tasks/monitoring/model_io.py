"""What each model reads (its input feature table) and serves (its output columns), for drift.

Read from the catalogues that already define them: the serving table and cadence from
``tasks.score.pipeline`` (``SCORERS``/``SCORER_MODEL``), the input table from each training
module's ``FEATURE_TABLE``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# Never profiled: keys, partition and run columns (they change every day by design) and the
# labels a feature table carries for training (their drift is the realised metrics' job).
NOT_PROFILED = frozenset({
    "as_of_date", "as_of_hour", "run_id", "scored_at", "computed_at", "dt", "hr", "model_version",
    "has_purchase", "is_fraud", "label_is_fraud",
})

# Output columns whose distribution is a model's prediction (ids, ranks and dates left out).
OUTPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "recommendations": ("score", "strategy"),
    "demand_forecasts": ("p10", "p50", "p90"),
    "session_intent": ("p_purchase", "intent"),
    "risk_labels": ("risk_score", "label", "action"),
    "campaign_audiences": ("expected_uplift", "propensity", "segment"),
    "inventory_actions": ("order_quantity", "p_stockout", "days_of_cover", "action"),
    "search_rankings": ("score", "segment"),
    "user_category_affinity": ("affinity", "lift", "category"),
    "price_recommendations": ("price_change_pct", "elasticity", "action"),
}

_INPUT_TABLE_ATTRIBUTE = {
    "session_intent": ("tasks.train.session_intent", "FEATURE_TABLE"),
    "demand_forecaster": ("tasks.train.demand_forecaster", "FEATURE_TABLE"),
    "risk": ("tasks.train.risk", "FEATURE_TABLE"),
    "recommender": ("tasks.train.recommender.data", "FEATURE_TABLE"),
    "campaign_uplift": ("tasks.train.uplift", "FEATURE_TABLE"),
    "inventory_policy": ("tasks.train.inventory_policy.config", "FEATURE_TABLE"),
    "search_ranker": ("tasks.train.search_ranker.config", "FEATURE_TABLE"),
    "pricing": ("tasks.train.pricing.config", "FEATURE_TABLE"),
}


@dataclass(frozen=True)
class ModelOutputs:
    model: str
    scorer: str
    table: str
    cadence: str  # daily | hourly
    columns: tuple[str, ...]


def input_table(model: str) -> str:
    """The daily feature table ``model`` trains and scores on (imports the training module)."""
    if model not in _INPUT_TABLE_ATTRIBUTE:
        raise KeyError(f"no input feature table declared for model {model!r} "
                       f"(known: {sorted(_INPUT_TABLE_ATTRIBUTE)})")
    module, attribute = _INPUT_TABLE_ATTRIBUTE[model]
    return str(getattr(importlib.import_module(module), attribute))


def model_outputs() -> list[ModelOutputs]:
    """Every scorer's serving table, the model it serves and its prediction columns."""
    from tasks.score.pipeline import SCORER_MODEL, SCORERS

    return [ModelOutputs(model=SCORER_MODEL[scorer], scorer=scorer, table=f"serving.{scorer}", cadence=cadence,
                         columns=OUTPUT_COLUMNS[scorer])
            for scorer, (_, _, cadence) in SCORERS.items()]


def models() -> list[str]:
    from tasks.train.pipeline import TRAINERS

    return list(TRAINERS)
