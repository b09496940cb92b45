"""Daily stock snapshots (``inventory``) driven by the generated sales.

Stock at 00:00 of each day, then that day's units are taken off and every
``RESTOCK_DAYS`` the product is refilled to about two weeks of its demand.
Sales are not constrained by stock (stock is floored at zero): the snapshots
are informational, for dashboards and forecast sanity checks.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.catalog import Catalog


def build_inventory(rng: np.random.Generator, catalog: Catalog, order_lines: pd.DataFrame,
                    start: datetime, n_days: int) -> pd.DataFrame:
    n = len(catalog.list_price)
    product_index = pd.Series(np.arange(n), index=catalog.products["product_id"].to_numpy())
    day = ((order_lines["ordered_at"].to_numpy() - np.datetime64(start, "ns")) // np.timedelta64(1, "D"))
    in_window = (day >= 0) & (day < n_days)
    sold = np.zeros((n, n_days))
    np.add.at(sold, (product_index.loc[order_lines["product_id"].to_numpy()[in_window]].to_numpy(),
                     day[in_window].astype(int)), order_lines["quantity"].to_numpy()[in_window])
    target = np.ceil(np.maximum(5.0, 14 * sold.mean(axis=1))) + rng.poisson(5, size=n)
    restock_weekday = rng.integers(0, C.RESTOCK_DAYS, size=n)
    stock = target.copy()
    snapshot = np.zeros((n, n_days), dtype=np.int64)
    for d in range(n_days):
        refill = (d % C.RESTOCK_DAYS) == restock_weekday
        stock[refill] = np.maximum(stock[refill], target[refill])
        snapshot[:, d] = stock
        stock = np.maximum(stock - sold[:, d], 0)
    prod_idx, day_idx = np.nonzero(np.arange(n_days)[None, :] >= catalog.active_from_day[:, None])
    frame = pd.DataFrame({
        "product_id": catalog.products["product_id"].to_numpy()[prod_idx],
        "stock_quantity": snapshot[prod_idx, day_idx],
        "snapshot_at": pd.Timestamp(start) + pd.to_timedelta(day_idx, unit="D"),
    })
    return frame.sort_values(["snapshot_at", "product_id"], kind="stable").reset_index(drop=True)
