"""Served demand forecasts vs the units realised, by horizon: WAPE, MASE, P10-P90 coverage.

On monitoring day ``D`` every forecast *for* ``D`` is judged (from each served partition
``A <= D``, horizon ``D - A`` days, as ``serving.forecast_vs_actual`` defines it), once
``marts.fct_daily_item_sales`` has reached ``D``. The mart is sparse: a known day without a
row is 0 units. A series ``product@location`` (not itself a product id) is compared with that
store's units, any other series with the product's units summed over stores — the rule of
the dbt view ``serving.forecast_vs_actual``. MASE scales each series' error by its in-sample
seasonal-naive error over the ``mase_insample_days`` before ``A``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.train.metrics import interval_coverage, mase, wape
from tasks.warehouse import read_frame

MODEL = "demand_forecaster"
TABLE = "serving.demand_forecasts"
SALES = "marts.fct_daily_item_sales"


def series_keys(item_ids: pd.Series, sales: pd.DataFrame) -> pd.DataFrame:
    """item_id -> (product_id, store_id or None) as forecast_vs_actual splits it."""
    stores = set(sales["store_id"].astype(str))
    products = set(sales["product_id"].astype(str))
    rows = []
    for item in item_ids.astype(str).unique():
        product, _, store = item.rpartition("@")
        if "@" in item and item not in products and store in stores:
            rows.append((item, product, store))
        else:
            rows.append((item, item, None))
    return pd.DataFrame(rows, columns=["item_id", "product_id", "store_id"])


def daily_units(keys: pd.DataFrame, sales: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    """(item_id x day) units, zero-filled (sparse mart: no row = nothing sold)."""
    s = sales.assign(product_id=sales["product_id"].astype(str), store_id=sales["store_id"].astype(str),
                     sales_date=pd.to_datetime(sales["sales_date"]).dt.date)
    by_product = s.groupby(["product_id", "sales_date"])["units"].sum()
    by_store = s.groupby(["product_id", "store_id", "sales_date"])["units"].sum()
    out = pd.DataFrame(0.0, index=keys["item_id"].to_numpy(), columns=days)
    for item, product, store in keys.itertuples(index=False):
        source = by_product.get(product) if store is None else by_store.get((product, store))
        if source is None or len(source) == 0:
            continue
        out.loc[item] = [float(source.get(d, 0.0)) for d in days]
    return out


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    end = day_start(day + timedelta(days=1))
    forecasts = served_rows(TABLE, "forecast_date = :d AND as_of_date <= :d", {"d": day})
    if forecasts is None:
        return result.skip(f"{TABLE} does not exist")
    if forecasts.empty:
        return result.skip(f"no served forecast is for {day}")
    missing = truth_missing([(SALES, "sales_date")], end)
    if missing:
        return result.skip(missing)
    first = min(pd.to_datetime(forecasts["as_of_date"]).dt.date) - timedelta(days=cfg.mase_insample_days)
    sales = read_frame(f"SELECT product_id, store_id, sales_date, units FROM {SALES} "
                       "WHERE sales_date >= :f AND sales_date <= :d", {"f": first, "d": day})
    keys = series_keys(forecasts["item_id"], sales)
    days = [first + timedelta(days=i) for i in range((day - first).days + 1)]
    units = daily_units(keys, sales, days)
    forecasts = forecasts.assign(as_of_date=pd.to_datetime(forecasts["as_of_date"]).dt.date,
                                 item_id=forecasts["item_id"].astype(str))
    for (version, served_on), part in forecasts.groupby(["model_version", "as_of_date"], sort=True):
        items = part["item_id"].to_numpy()
        actual = units.loc[items, day].to_numpy(dtype=float)
        insample_days = [d for d in days if served_on - timedelta(days=cfg.mase_insample_days) <= d < served_on]
        insample = units.loc[items, insample_days].to_numpy(dtype=float)
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end, "horizon_days": (day - served_on).days, "n_rows": len(part)}
        p10, p50, p90 = (part[c].to_numpy(dtype=float) for c in ("p10", "p50", "p90"))
        result.add(metric="wape", value=wape(actual, p50), **common)
        result.add(metric="mase", value=mase(actual[:, None], p50[:, None], insample), **common)
        result.add(metric="interval_coverage_p10_p90", value=interval_coverage(actual, p10, p90), **common)
        result.add(metric="units_actual", value=float(np.sum(actual)), **common)
    return result
