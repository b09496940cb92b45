"""Forecast rows of what a registered version serves (its model or its baseline).

Used by ``tasks/score/demand_forecasts.py`` and by the champion comparison in the recipe,
so a version is evaluated exactly as it is served.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tasks.train.common import (
    Artefact,
    config_from_dict,
)
from tasks.train.demand_forecaster.baselines import baseline_forecasts
from tasks.train.demand_forecaster.config import LEARNED, TARGET_TRANSFORM, DemandConfig, grain_spec
from tasks.train.demand_forecaster.model import forecast, load_model
from tasks.train.demand_forecaster.panel import Panel, period_dates, to_panel


def served_forecast(art: Artefact, panel: Panel, origin: int, device: torch.device) -> np.ndarray:
    """(P, H', 4) forecasts of what the artefact serves: its learned model, or the
    baseline its ``serving_strategy`` names (``baseline:<name>``), refitted on the panel up
    to ``origin``."""
    strategy = art.serving_strategy
    served = strategy.split(":", 1)[1] if strategy.startswith("baseline:") else LEARNED
    cfg = config_from_dict(DemandConfig, art.config)
    horizon = grain_spec(cfg, panel.grain).horizon
    if served == LEARNED:
        model, cfg = load_model(art, device)
        linear_returns = art.preprocessing.get("target_transform") == TARGET_TRANSFORM
        return forecast(model, panel, origin, cfg, device, linear_returns=linear_returns)
    return baseline_forecasts(panel, origin, horizon, (served,))[served]


def predict_frame(art: Artefact, sales: pd.DataFrame, device: torch.device,
                  categories: dict[str, str] | None = None,
                  calendar: pd.DataFrame | None = None) -> pd.DataFrame:
    """Forecast rows (item_id, location_id, forecast_date, p10, p50, p90, price_p50) for
    the H periods after the last sales period. ``item_id`` is the series key
    (``product@location`` when the source has locations); price_p50 is null for
    never-priced series. ``forecast_date`` labels the period: the day (daily), the
    week's last day, i.e. the weekday the source's weeks land on (weekly), the
    month's first day (monthly)."""
    grain = str(art.preprocessing.get("grain", "daily"))
    panel = to_panel(sales, categories, calendar, grain)
    origin = panel.n_days
    pred = served_forecast(art, panel, origin, device)
    h = pred.shape[1]
    dates = period_dates(panel.dates[0], grain, origin, origin + h)
    price = pred[..., 3].reshape(-1)
    return pd.DataFrame({
        "item_id": np.repeat(panel.products, h),
        "location_id": np.repeat(np.array(panel.locations, dtype=object), h),
        "forecast_date": [d for _ in panel.products for d in dates],
        "p10": pred[..., 0].reshape(-1), "p50": pred[..., 1].reshape(-1), "p90": pred[..., 2].reshape(-1),
        "price_p50": np.where(np.isfinite(price), price, np.nan),
    })
