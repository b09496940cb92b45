"""Demand forecaster: one global quantile MLP over item (x location) series at the data's
own grain (daily, weekly or monthly) -> P10/P50/P90 units and a P50 price for the next
H periods. The best statsforecast baseline is a servable candidate: when it beats
the learned model on the holdout, its forecasts are what scoring serves.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.demand_forecaster import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data (``read_sales``): the ``features.daily_item_sales`` partition valid at
   ``as_of_date`` (dense last 90 days with promo prices) extended back with the sparse
   ``marts.fct_daily_item_sales`` history, up to ``max_history_days``; when that mart has
   several stores the series are store-level and come from the mart alone. Item
   categories from ``features.item_features`` and, when a calendar table exists
   (``CALENDAR_TABLES``), its event days. Optional columns are used when present:
   ``store_id``/``location_id`` (series key = item x location), ``avg_price``,
   ``is_promo``. Negative units (returns) are kept as negative demand.
2. Grain: inferred from the dates that carry non-zero units (``detect_grain``):
   weekly data that landed on one weekday of a zero-filled daily table is weekly,
   not a daily series with six zero days a week. Context, horizon, season and the
   yearly lag are per grain (``GrainSpec``); the horizon is in periods.
3. Holdout: the last ``eval`` periods of every series, forecast from one origin;
   ``eval`` = H when the series is long enough to also train on full horizons,
   else a shorter holdout (``eval_periods_for``). Training origins are every period
   before the holdout (strided to at most ``max_train_rows`` rows).
4. Model inputs per (series, origin): the last C values in signed-log space
   (sign(y) log1p|y|, so returns stay representable) minus their mean (the level),
   the level, the same for the category series, the within-season profile (daily:
   weekday profile), share of zero periods, periods since the last sale, share of
   negative periods, calendar of the origin (weekday, day-of-year harmonics),
   per horizon step the *yearly shape* (last year's value around the target period
   relative to last year's context, for the series and for its category, when the
   history reaches back a year), per horizon step the calendar events of the
   target period and of its last-year counterpart, promo shares and price ratios.
   A shared MLP outputs per horizon step a median and two positive offsets
   (P10 <= P50 <= P90) and a price head. Loss: pinball at 0.1/0.5/0.9 plus
   ``price_loss_weight`` x L1 of the price head on periods with an observed price.
5. Baselines on the same cells (``forecast_baselines``): statsforecast seasonal
   naive, window average, AutoETS, Croston (optimized) and TSB; their price is the
   last observed price.
6. Metrics (finite values only -- an undefined metric is absent, never NaN): WAPE
   of P50 (main), MASE (scaled by the grain's in-sample seasonal-naive MAE), P10-P90
   coverage, mean pinball, ``price_wape`` (only when the source has prices).
7. Candidates: every baseline is servable through the registry's shared mechanism
   (``recipe.save_and_register(servable=...)``, docs/CONTRACTS.md "Served baselines"):
   a baseline that beats the learned model on WAPE is registered as its own version
   ``demand_forecaster-baseline_<name>-<date>-<hash>`` (``serving_strategy``
   ``baseline:<name>``) and scoring serves its forecasts.

Modules (one responsibility each; this package re-exports their public names, so
``from tasks.train import demand_forecaster as dm; dm.train(...)`` works as before):

- ``config``: names, tables, ``DemandConfig``, ``GrainSpec`` / ``grain_spec``, holdout length.
- ``panel``: sales rows -> (series x period) ``Panel``, grain detection, calendar events.
- ``features``: inputs and targets per (series, origin); the training set.
- ``model``: ``QuantileMLP``, its loss, ``forecast``, ``load_model``.
- ``baselines``: statsforecast baseline forecasts, servable baselines, ``pick_served``.
- ``evaluation``: ``forecast_metrics`` (one scorer for model, baselines and champion).
- ``data``: warehouse reads (sales history, categories, calendar).
- ``serving``: ``served_forecast``, ``predict_frame`` (what scoring writes).
- ``recipe``: ``fit_and_evaluate`` and ``train`` (the entry point ``pipeline`` calls).
"""

from __future__ import annotations

from tasks.train.demand_forecaster.baselines import (
    baseline_forecasts,
    pick_served,
    servable_baselines,
)
from tasks.train.demand_forecaster.config import (
    ALL_CATEGORY,
    BASELINES,
    CALENDAR_TABLES,
    FEATURE_TABLE,
    FEATURES,
    GRAINS,
    HISTORY_TABLE,
    ITEM_TABLE,
    LEARNED,
    LOCATION_COLUMNS,
    MAIN_METRIC,
    MODEL_NAME,
    NO_LOCATION,
    QUANTILES,
    SLOG_TRANSFORM,
    TARGET_TRANSFORM,
    DemandConfig,
    GrainSpec,
    eval_days_for,
    grain_spec,
)
from tasks.train.demand_forecaster.data import (
    read_calendar,
    read_categories,
    read_sales,
)
from tasks.train.demand_forecaster.evaluation import (
    forecast_metrics,
)
from tasks.train.demand_forecaster.features import (
    epochs_for,
    origin_inputs,
    price_targets,
    training_origins,
    training_set,
)
from tasks.train.demand_forecaster.model import (
    N_PRICE_INPUTS,
    QuantileMLP,
    forecast,
    load_model,
    make_loss,
    masked_pinball,
)
from tasks.train.demand_forecaster.panel import (
    EVENT_MARGIN,
    Panel,
    detect_grain,
    from_space,
    normalise_calendar,
    period_dates,
    returns_scale,
    sexp,
    slog,
    to_panel,
    to_space,
)
from tasks.train.demand_forecaster.recipe import (
    Fitted,
    fit_and_evaluate,
    train,
)
from tasks.train.demand_forecaster.serving import (
    predict_frame,
    served_forecast,
)

__all__ = [
    "ALL_CATEGORY",
    "BASELINES",
    "CALENDAR_TABLES",
    "DemandConfig",
    "EVENT_MARGIN",
    "FEATURES",
    "FEATURE_TABLE",
    "Fitted",
    "GRAINS",
    "GrainSpec",
    "HISTORY_TABLE",
    "ITEM_TABLE",
    "LEARNED",
    "LOCATION_COLUMNS",
    "MAIN_METRIC",
    "MODEL_NAME",
    "NO_LOCATION",
    "N_PRICE_INPUTS",
    "Panel",
    "QUANTILES",
    "SLOG_TRANSFORM",
    "TARGET_TRANSFORM",
    "QuantileMLP",
    "baseline_forecasts",
    "detect_grain",
    "epochs_for",
    "eval_days_for",
    "fit_and_evaluate",
    "forecast",
    "forecast_metrics",
    "from_space",
    "grain_spec",
    "load_model",
    "make_loss",
    "masked_pinball",
    "normalise_calendar",
    "origin_inputs",
    "period_dates",
    "pick_served",
    "predict_frame",
    "price_targets",
    "read_calendar",
    "read_categories",
    "read_sales",
    "returns_scale",
    "servable_baselines",
    "served_forecast",
    "sexp",
    "slog",
    "to_panel",
    "to_space",
    "train",
    "training_origins",
    "training_set",
]
