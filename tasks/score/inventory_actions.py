"""Inventory actions: per product for the as-of day, what to order and why.

Runs after ``demand_forecasts`` (``SCORER_AFTER`` in ``tasks/score/pipeline.py``) so the day's
forecast quantiles exist; a product the forecaster did not forecast today (or a day without a
forecaster champion) uses the policy's own demand distribution, and ``demand_source`` on each
row says which. The champion is the learned policy or a served baseline rule
(``policy`` column). Point-in-time like every scorer: a partition scored before is scored again
with the version that served it unless ``rescore``.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from tasks.score.common import daily_scored_at, load_serving_model, write_serving
from tasks.train.common import Artefact, config_from_dict
from tasks.train.inventory_policy.config import INVENTORY_TABLE, InventoryConfig
from tasks.train.inventory_policy.data import (
    parameters,
    read_categories,
    read_demand,
    read_forecasts,
    read_inventory,
)
from tasks.train.inventory_policy.evaluation import PolicySpec
from tasks.train.inventory_policy.recipe import align
from tasks.train.inventory_policy.serving import actions
from tasks.train.registry import RegistryEntry

log = logging.getLogger(__name__)

TABLE = "serving.inventory_actions"


def inventory_actions(entry: RegistryEntry, art: Artefact, as_of_date: date, run_id: str) -> pd.DataFrame:
    """The partition's rows from one registered version (one row per product with a snapshot)."""
    cfg = config_from_dict(InventoryConfig, art.config)
    demand, found = read_demand(as_of_date, cfg)
    inventory = read_inventory(as_of_date)
    if inventory.empty:
        raise RuntimeError(f"no {INVENTORY_TABLE} rows before {as_of_date}: run the ingest first")
    demand = align(demand, inventory)
    params = parameters(demand.products, inventory, read_categories(found), cfg)
    forecasts, forecast_version = read_forecasts(as_of_date)
    if forecast_version is None:
        log.info("inventory_actions: no serving.demand_forecasts for %s; every product uses the policy's own "
                 "demand distribution", as_of_date)
    spec = PolicySpec.from_artefact(art.preprocessing, art.serving_strategy)
    out = actions(spec, cfg, demand, params, inventory, forecasts, forecast_version, as_of_date)
    return out.assign(as_of_date=as_of_date, model_version=entry.version, run_id=run_id,
                      scored_at=daily_scored_at(as_of_date)).sort_values("product_id", kind="stable")


def score_inventory(as_of_date: date, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_date`` partition of serving.inventory_actions; returns rows written."""
    entry, art = load_serving_model(TABLE, as_of_date, rescore=rescore)
    return write_serving(TABLE, inventory_actions(entry, art, as_of_date, run_id), {"as_of_date": as_of_date},
                         model_version=entry.version, run_id=run_id)
