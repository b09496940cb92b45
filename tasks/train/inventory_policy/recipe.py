"""The inventory policy recipe: demand + inventory -> validation (service level) -> holdout
replay of the policy and both baselines -> register (a baseline that wins is served instead).

There are no weights: the policy is its demand model (trailing gamma, ``policy.py``) plus the
service levels chosen on the validation slice, all stored in the artefact's ``preprocessing``.
The registry still gets a (parameter-free) ``torch.nn.Module`` so the artefact loads like any
other model's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import torch

from tasks.train.common import Artefact, DataWindow, TrainResult, as_of_instant, config_from_dict
from tasks.train.inventory_policy.config import (
    BASELINES,
    FEATURE_TABLE,
    INVENTORY_TABLE,
    LEARNED,
    MAIN_METRIC,
    MODEL_NAME,
    InventoryConfig,
)
from tasks.train.inventory_policy.data import (
    DemandHistory,
    NotApplicable,
    Parameters,
    parameters,
    read_categories,
    read_demand,
    read_inventory,
)
from tasks.train.inventory_policy.evaluation import (
    PolicySpec,
    Windows,
    calibrate,
    evaluate_candidates,
    windows,
)
from tasks.train.recipe import ServableBaseline, save_and_register, winning_baseline

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    spec: PolicySpec
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    windows: Windows
    served: str = LEARNED
    extra: dict[str, Any] = field(default_factory=dict)


def align(demand: DemandHistory, inventory: pd.DataFrame) -> DemandHistory:
    """Demand rows for exactly the products with a stock snapshot (no sales: zero demand)."""
    products = sorted(inventory["product_id"].astype(str).unique())
    index = {p: i for i, p in enumerate(demand.products)}
    units = np.zeros((len(products), len(demand.dates)))
    for row, product in enumerate(products):
        if product in index:
            units[row] = demand.units[index[product]]
    return DemandHistory(products, demand.dates, units)


def fit_and_evaluate(demand: DemandHistory, params: Parameters, cfg: InventoryConfig) -> Fitted:
    """Choose the service level on the validation slice; replay the holdout under every candidate."""
    if not len(demand.products):
        raise NotApplicable("no product has both a stock snapshot and a sales history")
    win = windows(len(demand.dates), cfg)
    spec, calibration = calibrate(demand, params, cfg, win)
    metrics, baselines = evaluate_candidates(spec, demand, params, cfg, win.holdout_start, win.days)
    winner = winning_baseline(metrics, baselines, [ServableBaseline(n) for n in BASELINES], MAIN_METRIC,
                              higher_is_better=True)
    served = LEARNED if winner is None else winner.name
    log.info("inventory_policy (%d products, holdout %d days, service level %.3f): policy %s; baselines %s; "
             "serving %s", len(demand.products), win.days, spec.service_level, metrics, baselines, served)
    extra = {"n_products": len(demand.products), "holdout_days": win.days,
             "holdout_start": demand.dates[win.holdout_start].isoformat(), **calibration}
    return Fitted(spec, metrics, baselines, win, served, extra)


def train(as_of_date: date, run_id: str, cfg: InventoryConfig | None = None) -> TrainResult:
    """Recipe: sales + raw.inventory -> calibrate -> replay vs baselines -> register."""
    cfg = cfg or InventoryConfig()
    try:
        demand, found = read_demand(as_of_date, cfg)
    except NotApplicable as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc))
    inventory = read_inventory(as_of_date)
    if inventory.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {INVENTORY_TABLE} rows before {as_of_date}: nothing to replenish")
    window = DataWindow(as_of_instant(demand.dates[0]), as_of_instant(found))
    demand = align(demand, inventory)
    categories = read_categories(found)
    params = parameters(demand.products, inventory, categories, cfg)
    try:
        fitted = fit_and_evaluate(demand, params, cfg)
    except NotApplicable as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        """The champion's policy (its own config and levels) replayed on the new holdout."""
        champ_cfg = config_from_dict(InventoryConfig, art.config)
        champ_params = parameters(demand.products, inventory, categories, champ_cfg)
        spec = PolicySpec.from_artefact(art.preprocessing, art.serving_strategy)
        metrics, _ = evaluate_candidates(spec, demand, champ_params, champ_cfg, fitted.windows.holdout_start,
                                         fitted.windows.days)
        return metrics

    frame = pd.DataFrame(demand.units, index=demand.products,
                         columns=[d.isoformat() for d in demand.dates]).reset_index(names="product_id")
    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=torch.nn.Module(),
        preprocessing={**fitted.spec.to_preprocessing(), "features": ["daily_units", "lead_time_days", "pack_size",
                                                                      "moq", "category"],
                       "demand_distribution": f"gamma matched to the trailing {cfg.history_days}-day mean and "
                                              "variance (Poisson floor), or to the forecaster's P10/P50/P90"},
        metrics=fitted.metrics, baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=True,
        evaluate_champion=evaluate_champion, servable=[ServableBaseline(n) for n in BASELINES],
        training_inputs={"demand": frame, "inventory": inventory, "categories": categories},
        extra_metrics={"feature_partition": found.isoformat(), "feature_table": FEATURE_TABLE, **fitted.extra})
