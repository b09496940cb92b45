"""Entry point for ``ScoreOperator``: run one scorer on one partition.

Daily scorers get ``as_of_date = partition.dt + 1`` (the run covers ``[dt, dt+1)``
and serves from the next day, CONTRACTS.md); hourly scorers get the hour's start
as ``as_of_hour``. Scorers are imported lazily (they import torch).
"""

from __future__ import annotations

import importlib

from tasks.partitions import Partition

# scorer name (DAG task suffix = serving table) -> (module, function, cadence)
SCORERS = {
    "recommendations": ("tasks.score.recommendations", "score_recommendations", "daily"),
    "demand_forecasts": ("tasks.score.demand_forecasts", "score_demand", "daily"),
    "session_intent": ("tasks.score.session_intent", "score_session_intent", "hourly"),
    "risk_labels": ("tasks.score.risk_labels", "score_risk", "hourly"),
    "campaign_audiences": ("tasks.score.campaign_audiences", "score_campaign_audiences", "daily"),
    "price_recommendations": ("tasks.score.price_recommendations", "score_price_recommendations", "daily"),
    # One model, two tables: the search ranker's champion serves both (tasks/score/search_rankings.py).
    "search_rankings": ("tasks.score.search_rankings", "score_search_rankings", "daily"),
    "user_category_affinity": ("tasks.score.search_rankings", "score_user_category_affinity", "daily"),
    "inventory_actions": ("tasks.score.inventory_actions", "score_inventory", "daily"),
}

# scorer -> the model whose champion it serves
SCORER_MODEL = {
    "recommendations": "recommender",
    "session_intent": "session_intent",
    "demand_forecasts": "demand_forecaster",
    "risk_labels": "risk",
    "campaign_audiences": "campaign_uplift",
    "price_recommendations": "pricing",
    "search_rankings": "search_ranker",
    "user_category_affinity": "search_ranker",
    "inventory_actions": "inventory_policy",
}

# scorer -> the scorers (same cadence) whose output of the same partition it reads, so the DAG
# runs it after them; a scorer that is not listed depends on the champions only.
SCORER_AFTER: dict[str, tuple[str, ...]] = {
    # Demand over lead time + review from the day's forecast quantiles (tasks/score/inventory_actions.py).
    "inventory_actions": ("demand_forecasts",),
}


def run_scorer(scorer: str, partition: Partition, run_id: str, *, rescore: bool = False) -> int:
    """Score one partition; returns the number of serving rows written.

    Point-in-time: a partition scored before is scored again with the model version that
    served it (``ml.serving_versions``), so a re-run reproduces its rows; ``rescore=True``
    (retrain, rollback) scores it with the current champion instead.
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; known: {sorted(SCORERS)}")
    module, function, cadence = SCORERS[scorer]
    if (cadence == "hourly") != partition.is_hourly:
        raise ValueError(f"{scorer} is a {cadence} scorer; got partition {partition.label}")
    fn = getattr(importlib.import_module(module), function)
    return int(fn(partition.start if partition.is_hourly else partition.as_of.date(), run_id, rescore=rescore))
