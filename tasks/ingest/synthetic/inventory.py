"""Daily stock snapshots (``inventory``) under the shop's own replenishment policy, and the
planted truth of what an optimal policy would have done (``inventory_truth``).

Each product has a supplier lead time, a pack size and a minimum order quantity (MOQ),
constant over the window and repeated on every snapshot row. The shop reviews each product
weekly on its own weekday and orders up to about ``INVENTORY_COVER_DAYS`` of its average
demand; the order arrives ``lead_time_days`` later (``tasks/replenishment.py`` plays the
days). Imported products' lead times (2-4 weeks) outrun that cover, so their stock runs out.

Demand is the generated order lines, which are *not* limited by stock: making sales
stock-constrained would change ``order_lines`` (and everything built from them: events,
payments, every figure pinned on them). Lost sales are planted here instead: units demanded
on a day when stock could not serve them are the truth's ``lost_units``, and the snapshot
shows the stock that remained (0 on a stock-out day). So on a stock-out day the order lines
still show the sale: read them as demand, not as what was shipped (docs/synthetic_ground_truth.md).

Randomness: the same per-component stream as before (``streams[5]``); the two draws the
earlier generator made come first and in the same order, the new attributes after them, so
no other entity of the shop moves.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.catalog import Catalog
from tasks.replenishment import Replay, simulate


def demand_matrix(order_lines: pd.DataFrame, product_ids: np.ndarray, start: datetime, n_days: int) -> np.ndarray:
    """Units per (product, window day) from the order lines (products in ``product_ids`` order)."""
    n = len(product_ids)
    product_index = pd.Series(np.arange(n), index=product_ids)
    day = ((order_lines["ordered_at"].to_numpy() - np.datetime64(start, "ns")) // np.timedelta64(1, "D"))
    in_window = (day >= 0) & (day < n_days) & order_lines["product_id"].isin(product_index.index).to_numpy()
    sold = np.zeros((n, n_days))
    np.add.at(sold, (product_index.loc[order_lines["product_id"].to_numpy()[in_window]].to_numpy(),
                     day[in_window].astype(int)), order_lines["quantity"].to_numpy()[in_window])
    return sold


def _pack_sizes(rng: np.random.Generator, mean_daily: np.ndarray) -> np.ndarray:
    """A pack of at most two weeks of the product's demand (1 for slow movers)."""
    sizes = np.array(C.PACK_SIZES)
    allowed = sizes[None, :] <= np.maximum(1.0, 14 * mean_daily)[:, None]
    pick = np.floor(rng.random(len(mean_daily)) * allowed.sum(axis=1)).astype(int)
    return sizes[pick]


def build_inventory(rng: np.random.Generator, catalog: Catalog, order_lines: pd.DataFrame,
                    start: datetime, n_days: int) -> pd.DataFrame:
    product_ids = catalog.products["product_id"].to_numpy()
    n = len(product_ids)
    sold = demand_matrix(order_lines, product_ids, start, n_days)
    mean_daily = sold.mean(axis=1)
    target = np.ceil(np.maximum(5.0, C.INVENTORY_COVER_DAYS * mean_daily)) + rng.poisson(5, size=n)
    restock_weekday = rng.integers(0, C.RESTOCK_DAYS, size=n)
    imported = rng.random(n) < C.SHARE_IMPORTED
    lead = np.where(imported, rng.integers(C.IMPORTED_LEAD_TIME_DAYS[0], C.IMPORTED_LEAD_TIME_DAYS[1] + 1, size=n),
                    rng.integers(C.LEAD_TIME_DAYS[0], C.LEAD_TIME_DAYS[1] + 1, size=n))
    pack = _pack_sizes(rng, mean_daily)
    moq = pack * rng.integers(C.MOQ_PACKS[0], C.MOQ_PACKS[1] + 1, size=n)
    replay = simulate(sold, lead, pack, moq, lambda t, position: target, target,
                      review_days=C.RESTOCK_DAYS, review_offset=(C.RESTOCK_DAYS - restock_weekday) % C.RESTOCK_DAYS)
    prod_idx, day_idx = np.nonzero(np.arange(n_days)[None, :] >= catalog.active_from_day[:, None])
    frame = pd.DataFrame({
        "product_id": product_ids[prod_idx],
        "stock_quantity": replay.on_hand_open[prod_idx, day_idx].round().astype(np.int64),
        "snapshot_at": pd.Timestamp(start) + pd.to_timedelta(day_idx, unit="D"),
        "on_order": replay.on_order_open[prod_idx, day_idx].round().astype(np.int64),
        "lead_time_days": lead[prod_idx].astype(np.int64),
        "pack_size": pack[prod_idx].astype(np.int64),
        "moq": moq[prod_idx].astype(np.int64),
    })
    return frame.sort_values(["snapshot_at", "product_id"], kind="stable").reset_index(drop=True)


def _historic_replay(inventory: pd.DataFrame, order_lines: pd.DataFrame, start: datetime,
                     n_days: int) -> tuple[pd.DataFrame, np.ndarray, Replay]:
    """Per product parameters, demand and the replay of what the snapshots show."""
    params = inventory.groupby("product_id", sort=True).agg(
        lead_time_days=("lead_time_days", "first"), pack_size=("pack_size", "first"), moq=("moq", "first"))
    demand = demand_matrix(order_lines, params.index.to_numpy(), start, n_days)
    wide = inventory.pivot_table(index="product_id", columns="snapshot_at", values="stock_quantity")
    days = ((pd.to_datetime(wide.columns) - pd.Timestamp(start)).days).to_numpy()
    stock = np.full((len(params), n_days), np.nan)
    stock[:, days] = wide.reindex(params.index).to_numpy()
    listed = np.isfinite(stock)
    # Replaying the snapshots: on a listed day demand is served from the snapshot's stock.
    sold = np.where(listed, np.minimum(np.nan_to_num(stock), demand), 0.0)
    lost = np.where(listed, demand - sold, 0.0)
    replay = Replay(np.nan_to_num(stock), np.zeros_like(demand), np.zeros_like(demand), sold, lost,
                    np.nan_to_num(stock) - sold)
    return params, np.where(listed, demand, 0.0), replay


def inventory_truth(inventory: pd.DataFrame, order_lines: pd.DataFrame, start: datetime, n_days: int,
                    fill_target: float = C.TRUTH_FILL_TARGET) -> pd.DataFrame:
    """The planted truth per product (docs/synthetic_ground_truth.md "Inventory"):

    - ``lost_units`` / ``stockout_days`` / ``fill_rate`` under the shop's historic policy (what
      the snapshots show: demand on a day beyond its opening stock is lost);
    - ``mean_daily_demand`` over the window;
    - ``optimal_order_up_to``: the smallest weekly order-up-to level whose replay over the whole
      window (with the product's lead time, pack and MOQ, starting at that level) reaches
      ``fill_target`` -- the level a clairvoyant policy would hold; a policy's levels can be
      compared with it (rank correlation) and with ``optimal_turnover``.
    """
    params, demand, historic = _historic_replay(inventory, order_lines, start, n_days)
    lead = params["lead_time_days"].to_numpy()
    pack = params["pack_size"].to_numpy()
    moq = params["moq"].to_numpy()
    demanded = demand.sum(axis=1)
    lo = np.zeros(len(params))
    hi = np.maximum(demanded, 1.0)  # holding the whole window's demand always fills it

    def fill_at(levels: np.ndarray) -> tuple[np.ndarray, Replay]:
        rep = simulate(demand, lead, pack, moq, lambda t, position: levels, levels, review_days=C.RESTOCK_DAYS)
        served = rep.sold.sum(axis=1)
        return np.where(demanded > 0, served / np.maximum(demanded, 1e-9), 1.0), rep

    for _ in range(int(np.ceil(np.log2(hi.max() + 1))) + 1):  # integer bisection, all products at once
        mid = np.floor((lo + hi) / 2)
        ok = fill_at(mid)[0] >= fill_target
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid + 1)
    fill, optimal = fill_at(hi)
    hist_demand = historic.sold.sum(axis=1) + historic.lost.sum(axis=1)
    return pd.DataFrame({
        "product_id": params.index.to_numpy(),
        "lead_time_days": lead, "pack_size": pack, "moq": moq,
        "mean_daily_demand": demand.mean(axis=1),
        "lost_units": historic.lost.sum(axis=1),
        "stockout_days": (historic.lost > 0).sum(axis=1),
        "fill_rate": np.where(hist_demand > 0, historic.sold.sum(axis=1) / np.maximum(hist_demand, 1e-9), 1.0),
        "optimal_order_up_to": hi,
        "optimal_fill_rate": fill,
        "optimal_avg_inventory": optimal.on_hand_close.mean(axis=1),
    })
