"""Sales + shown prices -> a dense (product x day) panel of units and log price.

A day's price must be known on days *without* a sale too: keeping only the days with
sales would select on the outcome (a price hike that sells nothing would vanish) and
bias every elasticity towards zero. The shown price comes from ``raw.prices`` spans when
the source has them (``daily_prices``); otherwise from ``avg_price`` on sale days,
carried forward to the next change (documented bias in docs/pricing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd


@dataclass
class PricePanel:
    products: np.ndarray  # (P,) product ids
    categories: np.ndarray  # (P,) category per product ("" when unknown)
    dates: list[date]  # (T,) consecutive days
    units: np.ndarray  # (P, T) float, >= 0
    log_price: np.ndarray  # (P, T) float, NaN where the shown price is unknown
    promo: np.ndarray  # (P, T) bool
    cost: np.ndarray  # (P,) unit cost, NaN when unknown
    #: "price_list" (raw.prices) or "order_lines" (realised unit prices, carried forward)
    price_source: str = "price_list"

    @property
    def n_days(self) -> int:
        return len(self.dates)

    def price(self, day: int) -> np.ndarray:
        return np.exp(self.log_price[:, day])


def daily_prices(changes: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """(product_id, sales_date, shown_price, shown_promo) per day in ``[first, last]``: the last
    change with ``valid_from`` before the next midnight, so a promotion that starts at 00:00
    prices its whole day. Days before a product's first change are absent."""
    if changes.empty:
        return pd.DataFrame(columns=["product_id", "sales_date", "shown_price", "shown_promo"])
    ch = changes.assign(valid_from=pd.to_datetime(changes["valid_from"]),
                        product_id=changes["product_id"].astype(str)).sort_values("valid_from")
    days = pd.DataFrame({"day_end": pd.date_range(first + timedelta(days=1), last + timedelta(days=1))})
    out = []
    for pid, rows in ch.groupby("product_id", sort=True):
        merged = pd.merge_asof(days, rows[["valid_from", "price", "is_promo"]], left_on="day_end",
                               right_on="valid_from", allow_exact_matches=False)
        merged = merged.dropna(subset=["price"])
        out.append(pd.DataFrame({"product_id": pid,
                                 "sales_date": (merged["day_end"] - pd.Timedelta(days=1)).dt.date,
                                 "shown_price": merged["price"].astype(float),
                                 "shown_promo": merged["is_promo"].astype("boolean").fillna(False).astype(bool)}))
    return pd.concat(out, ignore_index=True) if out else daily_prices(pd.DataFrame(), first, last)


def to_price_panel(sales: pd.DataFrame, categories: dict[str, str] | None = None,
                   prices: pd.DataFrame | None = None, costs: dict[str, float] | None = None) -> PricePanel:
    """Dense panel over the sales' day range. ``sales``: product_id, sales_date, units and
    optionally avg_price / is_promo; ``prices``: the output of ``daily_prices`` (or None)."""
    frame = sales.assign(product_id=sales["product_id"].astype(str),
                         sales_date=pd.to_datetime(sales["sales_date"]).dt.date)
    first, last = min(frame["sales_date"]), max(frame["sales_date"])
    dates = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    products = np.array(sorted(frame["product_id"].unique()), dtype=object)
    p_index = {p: i for i, p in enumerate(products)}
    d_index = {d: i for i, d in enumerate(dates)}
    shape = (len(products), len(dates))
    units = np.zeros(shape)
    observed_price = np.full(shape, np.nan)
    promo = np.zeros(shape, dtype=bool)
    pi = frame["product_id"].map(p_index).to_numpy()
    di = frame["sales_date"].map(d_index).to_numpy()
    np.add.at(units, (pi, di), frame["units"].fillna(0).clip(lower=0).to_numpy(float))
    if "avg_price" in frame.columns:
        avg = pd.to_numeric(frame["avg_price"], errors="coerce").to_numpy(float)
        ok = np.isfinite(avg) & (avg > 0)
        observed_price[pi[ok], di[ok]] = avg[ok]
    if "is_promo" in frame.columns:
        promo[pi, di] = frame["is_promo"].fillna(False).astype(bool).to_numpy()
    if prices is not None and not prices.empty:
        shown = prices[prices["product_id"].isin(p_index) & prices["sales_date"].isin(d_index)]
        spi = shown["product_id"].map(p_index).to_numpy()
        sdi = shown["sales_date"].map(d_index).to_numpy()
        price = np.full(shape, np.nan)
        price[spi, sdi] = shown["shown_price"].to_numpy(float)
        promo[spi, sdi] |= shown["shown_promo"].to_numpy(bool)
        # Where the price list is silent (e.g. a product it does not cover), fall back to the orders.
        price = np.where(np.isfinite(price), price, observed_price)
    else:
        price = pd.DataFrame(observed_price).ffill(axis=1).to_numpy()
    price = np.where(price > 0, price, np.nan)
    cats = categories or {}
    cost_map = costs or {}
    return PricePanel(
        products=products,
        categories=np.array([str(cats.get(p, "")) for p in products], dtype=object),
        dates=dates, units=units, log_price=np.log(price), promo=promo,
        cost=np.array([float(cost_map.get(p, np.nan)) for p in products]),
        price_source="price_list" if prices is not None and not prices.empty else "order_lines",
    )


def has_price_variation(panel: PricePanel, upto: int | None = None, min_products: int = 1) -> bool:
    """True when at least ``min_products`` products show two different prices before ``upto``."""
    lp = panel.log_price[:, :upto]
    spread = np.nanmax(np.where(np.isfinite(lp), lp, -np.inf), axis=1) - np.nanmin(
        np.where(np.isfinite(lp), lp, np.inf), axis=1)
    return int((np.isfinite(spread) & (spread > 1e-6)).sum()) >= min_products
