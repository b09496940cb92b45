"""The forecaster recipe: sales -> grain -> holdout -> quantile MLP vs baselines -> register.

Glues the other modules of the package; the steps and the reasons for them are described
in the package docstring (``tasks/train/demand_forecaster/__init__.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import torch

from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainResult,
    as_of_instant,
    fit,
    pick_device,
    setup_torch,
)
from tasks.train.demand_forecaster.baselines import baseline_forecasts, pick_served, servable_baselines
from tasks.train.demand_forecaster.config import (
    FEATURE_TABLE,
    FEATURES,
    LEARNED,
    MAIN_METRIC,
    MODEL_NAME,
    QUANTILES,
    TARGET_TRANSFORM,
    DemandConfig,
    GrainSpec,
    eval_days_for,
    grain_spec,
)
from tasks.train.demand_forecaster.data import read_calendar, read_categories, read_sales
from tasks.train.demand_forecaster.evaluation import forecast_metrics
from tasks.train.demand_forecaster.features import epochs_for, training_set
from tasks.train.demand_forecaster.model import QuantileMLP, forecast, make_loss
from tasks.train.demand_forecaster.panel import Panel, detect_grain, to_panel
from tasks.train.demand_forecaster.serving import served_forecast
from tasks.train.recipe import save_and_register

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    model: QuantileMLP
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    panel: Panel
    origin: int
    eval_days: int
    loss_history: list[float]
    served: str = LEARNED
    spec: GrainSpec | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def served_metrics(self) -> dict[str, float]:
        """Metrics of what would be served (the model's or the winning baseline's)."""
        return self.metrics if self.served == LEARNED else self.baselines[self.served]


def fit_and_evaluate(sales: pd.DataFrame, cfg: DemandConfig, device: torch.device,
                     categories: dict[str, str] | None = None, calendar: pd.DataFrame | None = None,
                     grain: str | None = None) -> Fitted:
    """Holdout = the last ``eval`` periods; train on everything before them (up to
    ``max_history_days``); score the model and every baseline on the same cells."""
    if sales.empty:
        raise ValueError("no sales rows")
    grain = grain or detect_grain(sales["sales_date"], sales["units"])
    spec = grain_spec(cfg, grain)
    panel = to_panel(sales, categories, calendar, grain, max_periods=spec.max_history)
    if panel.n_days < spec.min_periods:
        raise ValueError(f"only {panel.n_days} {grain} periods of sales "
                         f"(< min_series_days={spec.min_periods} periods)")
    e = eval_days_for(panel.n_days, cfg, grain)
    origin = panel.n_days - e
    setup_torch(cfg)
    tensors = training_set(panel, origin, cfg)
    model = QuantileMLP(spec.n_inputs, spec.horizon, cfg.hidden)
    history = fit(model, tensors, make_loss(cfg), epochs_for(cfg, len(tensors["x"])), device)
    metrics = forecast_metrics(panel, origin, forecast(model, panel, origin, cfg, device)[:, :e])
    baselines = {name: forecast_metrics(panel, origin, pred)
                 for name, pred in baseline_forecasts(panel, origin, e).items()}
    served = pick_served(metrics, baselines)
    log.info("demand_forecaster (%s, %d series, %d periods): model %s; baselines %s; serving %s", grain,
             len(panel.products), panel.n_days, metrics, baselines, served)
    extra = {"grain": grain, "n_periods": panel.n_days, "n_train_rows": int(len(tensors["x"])),
             "n_event_periods": int((panel.events[: panel.n_days] > 0).sum()),
             "has_locations": any(loc is not None for loc in panel.locations or [])}
    return Fitted(model, metrics, baselines, panel, origin, e, history, served, spec, extra)


def train(as_of_date: date, run_id: str, cfg: DemandConfig | None = None) -> TrainResult:
    """Recipe: sales partition -> grain -> holdout -> quantile MLP vs statsforecast
    baselines -> register the better of the two candidates."""
    cfg = cfg or DemandConfig()
    device = pick_device()
    sales, found = read_sales(as_of_date, cfg.max_history_days)
    if found is None or sales.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    first = pd.Timestamp(pd.to_datetime(sales["sales_date"]).min()).date()
    window = DataWindow(as_of_instant(first), as_of_instant(found))
    categories = read_categories(found)
    calendar = read_calendar()
    try:
        fitted = fit_and_evaluate(sales, cfg, device, categories, calendar)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        """The champion (learned or baseline) on exactly the new holdout's cells."""
        if str(art.preprocessing.get("grain", "daily")) != fitted.panel.grain:
            raise ValueError("champion was trained at another grain")
        pred = served_forecast(art, fitted.panel, fitted.origin, device)
        if pred.shape[1] < fitted.eval_days:
            raise ValueError(f"champion horizon {pred.shape[1]} < holdout {fitted.eval_days} periods")
        return forecast_metrics(fitted.panel, fitted.origin, pred[:, : fitted.eval_days])

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model,
        preprocessing={"features": list(FEATURES), "quantiles": list(QUANTILES), "grain": fitted.extra["grain"],
                       "target_transform": TARGET_TRANSFORM,
                       "price_transform": "log(price / last observed price)"},
        metrics=fitted.metrics, baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=False,
        evaluate_champion=evaluate_champion, servable=servable_baselines(fitted.baselines),
        training_inputs={"sales": sales, "categories": categories, "calendar": calendar},
        extra_metrics={"loss_history": fitted.loss_history, "feature_partition": found.isoformat(),
                       "n_series": len(fitted.panel.products), **fitted.extra})
