"""Demand forecasts: P10/P50/P90 units and a P50 price per series for the champion's
horizon (in periods of the data's grain: days, weeks or months) from as_of_date.

The champion is whatever won on the holdout: the learned model or a statsforecast
baseline (``serving_strategy = baseline:<name>`` in its artefact); ``model_version`` on
every row is the registry version, which names a served baseline
(``demand_forecaster-baseline_seasonal_naive-<date>-<hash>``). ``item_id`` is the series key:
the product, or ``product@location`` when the source has locations (until the
serving contract gets a ``location_id`` column).

``price_p50`` (null for items never sold at a known price) is published once
``serving.demand_forecasts`` declares the column in ``tasks/score/schema.py``;
until then ``write_serving`` keeps the contract columns only.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from tasks.score.common import daily_scored_at, load_serving_model, write_serving
from tasks.train.common import Artefact, config_from_dict, pick_device
from tasks.train.demand_forecaster import (
    FEATURE_TABLE,
    DemandConfig,
    predict_frame,
    read_calendar,
    read_categories,
    read_sales,
)
from tasks.train.registry import RegistryEntry

log = logging.getLogger(__name__)

TABLE = "serving.demand_forecasts"


def build_forecasts(as_of_date: date, run_id: str, *, rescore: bool = False) -> pd.DataFrame:
    """The rows of the ``as_of_date`` partition, with run metadata on every row, from the
    version that served the partition before (the champion when it never was, or ``rescore``)."""
    return forecasts(*load_serving_model(TABLE, as_of_date, rescore=rescore), as_of_date, run_id)


def forecasts(entry: RegistryEntry, art: Artefact, as_of_date: date, run_id: str) -> pd.DataFrame:
    """The partition's rows from one registered version.

    Forecasts start the day after the last sales date of the newest
    ``daily_item_sales`` partition <= as_of_date (normally as_of_date itself);
    when that partition is stale, days before as_of_date are dropped. Weekly
    forecasts are dated by the weekday the source's weeks land on, monthly ones by the 1st.
    """
    cfg = config_from_dict(DemandConfig, art.config)
    sales, found = read_sales(as_of_date, cfg.max_history_days)  # the history the version was fit on
    if found is None or sales.empty:
        raise RuntimeError(f"no {FEATURE_TABLE} partition at or before {as_of_date}: run the features first")
    out = predict_frame(art, sales, pick_device(), read_categories(found), read_calendar())
    out = out[out["forecast_date"] >= as_of_date]
    return out.assign(as_of_date=as_of_date, model_version=entry.version, run_id=run_id,
                      scored_at=daily_scored_at(as_of_date)).sort_values(["item_id", "forecast_date"])


def score_demand(as_of_date: date, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_date`` partition of serving.demand_forecasts; returns rows written.

    Point-in-time: a partition scored before is scored with the version that served it,
    unless ``rescore`` (tasks/score/serving_versions.py)."""
    entry, art = load_serving_model(TABLE, as_of_date, rescore=rescore)
    return write_serving(TABLE, forecasts(entry, art, as_of_date, run_id), {"as_of_date": as_of_date},
                         model_version=entry.version, run_id=run_id)
