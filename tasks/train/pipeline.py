"""Entry point for ``TrainModelOperator``: train a model for a daily partition when due.

A daily run for partition ``dt = D`` has ``as_of_date = D + 1`` (CONTRACTS.md):
the model learns from data strictly before ``D + 1 00:00``. Recipes are imported
lazily so the operator (and DAG parsing) never imports torch.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from tasks.partitions import Partition

log = logging.getLogger(__name__)

TRAINERS = {
    "recommender": "tasks.train.recommender",
    "session_intent": "tasks.train.session_intent",
    "demand_forecaster": "tasks.train.demand_forecaster",
    "risk": "tasks.train.risk",
    "campaign_uplift": "tasks.train.uplift",
    "pricing": "tasks.train.pricing",
    "search_ranker": "tasks.train.search_ranker",
    "inventory_policy": "tasks.train.inventory_policy",
}


def train_if_due(model: str, partition: Partition, run_id: str, *, force: bool = False) -> dict[str, Any]:
    """Train ``model`` as of the partition's end unless its champion is fresh enough.

    Returns a JSON-able summary for XCom (NaN/inf -> null): status
    (champion|challenger|skipped|not_due), version, metrics, baseline metrics and, when
    skipped, the reason. A retry of a run that already registered returns that registration.
    """
    from tasks.train.common import json_safe
    from tasks.train.registry import champion, is_training_due, registered_by_run

    if model not in TRAINERS:
        raise ValueError(f"unknown model {model!r}; known: {sorted(TRAINERS)}")
    if partition.is_hourly:
        raise ValueError(f"training runs on daily partitions, got {partition.label}")
    as_of_date = partition.as_of.date()
    own = registered_by_run(model, run_id)
    if own is not None:
        # A retry of a task that registered (one committed transaction) and then failed:
        # report that registration instead of training again or calling it "not due".
        log.info("%s: this run already registered %s (%s); not training again", model, own.version, own.status)
        return json_safe({"model": model, "status": own.status, "version": own.version,
                          "as_of_date": as_of_date.isoformat(), "metrics": own.metrics,
                          "baseline_metrics": own.baseline_metrics,
                          "reason": "registered by an earlier try of this run"})
    if not force and not is_training_due(model, as_of_date):
        current = champion(model)
        log.info("%s: champion %s is fresh at %s; not training", model, current and current.version, as_of_date)
        return {"model": model, "status": "not_due", "version": current.version if current else None,
                "as_of_date": as_of_date.isoformat()}
    from tasks.train.leakage import check_training_inputs

    check_training_inputs(model, as_of_date)  # raises LeakageError before any training
    result = importlib.import_module(TRAINERS[model]).train(as_of_date, run_id)
    # XCom is JSON with allow_nan=False: an unavailable metric (NaN) is reported as null.
    return json_safe({
        "model": model, "status": result.status, "version": result.version, "as_of_date": as_of_date.isoformat(),
        "metrics": result.metrics, "baseline_metrics": result.baseline_metrics,
        "champion_metrics": result.champion_metrics, "reason": result.reason,
    })
