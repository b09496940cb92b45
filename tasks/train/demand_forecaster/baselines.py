"""statsforecast baselines on the forecaster's panel, and which candidate is served.

Every baseline refits from the panel alone (no stored state), so any of them can be
served when it beats the learned model on the holdout.
"""

from __future__ import annotations

import numpy as np

from tasks.train import forecast_baselines as fb
from tasks.train.demand_forecaster.config import BASELINES, LEARNED, MAIN_METRIC
from tasks.train.demand_forecaster.panel import Panel
from tasks.train.recipe import ServableBaseline, winning_baseline


def baseline_forecasts(panel: Panel, origin: int, days: int,
                       names: tuple[str, ...] = BASELINES) -> dict[str, np.ndarray]:
    """(P, days, 4) per baseline: its unit quantiles plus the last observed price."""
    season = {"daily": 7, "weekly": 52, "monthly": 12}[panel.grain]
    price = fb.last_price(panel.price, panel.price_observed, origin, days)[..., None]
    units = fb.statsforecast_baselines(panel.units, origin, days, season, names)
    return {name: np.concatenate([u, price], axis=-1) for name, u in units.items()}


def servable_baselines(baselines: dict[str, dict[str, float]]) -> list[ServableBaseline]:
    """Every baseline ``baseline_forecasts`` can refit at scoring time (no fitted state)."""
    return [ServableBaseline(name) for name in BASELINES if name in baselines]


def pick_served(metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> str:
    """What registering these results serves, by the registry's rule
    (``recipe.winning_baseline``): ``LEARNED`` unless a baseline has a strictly lower WAPE
    on the same holdout. A model without a finite WAPE loses to any baseline that has one."""
    winner = winning_baseline(metrics, baselines, servable_baselines(baselines), MAIN_METRIC,
                              higher_is_better=False)
    return LEARNED if winner is None else winner.name
