"""A realistic public-clickstream look-alike for recommender tests and benchmarks.

Why not ``synthetic_frames.fct_events``: that planted a clean successor chain over
40 items and flat popularity, where any sequence model wins. Real clickstreams
(view / cart / favourite / purchase with a category id, no prices, no text, no
user file, about a week of events) look nothing like it, and the recommender
collapsed on one (issue 14). This generator reproduces the shapes that matter:

* power-law item popularity inside power-law categories, thousands of items, most
  of them rare (the long tail every real catalogue has);
* users with 1-3 preferred categories and a heavy-tailed number of sessions over a
  short span (``days``, default 9): many users are active on one day only;
* sessions of views that wander through *similar* items (a latent position inside
  the category), occasional category switches, page refreshes (consecutive
  duplicate views), re-views of items seen in earlier sessions;
* a few carts, fewer favourites, fewer purchases: carts are bought later in the
  session or in the next one, some purchases have no view at all, some repeat an
  earlier purchase;
* products carry only a category id (no price, title or description).

Nothing here is tuned to make any policy win: the signals (popularity, co-views,
re-views, category affinity) are the ones item-kNN, session-kNN, EASE and a
sequence model can all use. Deterministic by seed; ~0.5 s for the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

AS_OF = datetime(2024, 3, 1)


@dataclass
class Clickstream:
    """``events`` shaped like ``marts.fct_events``; ``products`` has product_id and category only."""

    events: pd.DataFrame
    products: pd.DataFrame
    as_of: datetime


def _zipf(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    w = (np.arange(1, n + 1, dtype=float) ** -exponent)[rng.permutation(n)]
    return w / w.sum()


def clickstream(n_users: int = 2500, n_items: int = 4000, n_categories: int = 40, days: int = 9,
                seed: int = 0, as_of: datetime = AS_OF) -> Clickstream:
    """Generate the clickstream of ``[as_of - days, as_of)`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    cat_share = _zipf(rng, n_categories, 1.0)
    item_cat = rng.choice(n_categories, size=n_items, p=cat_share)
    item_pop = _zipf(rng, n_items, 1.05)
    style = rng.random(n_items)  # latent position inside the category: neighbours are similar
    by_cat = [np.flatnonzero(item_cat == c) for c in range(n_categories)]
    by_cat = [c if len(c) else np.array([int(rng.integers(n_items))]) for c in by_cat]
    cat_p = [item_pop[c] / item_pop[c].sum() for c in by_cat]
    start = as_of - timedelta(days=days)
    rows: list[tuple[str, str, str, float]] = []  # user, item, type, seconds since start

    def popular_in(cat: int) -> int:
        return int(rng.choice(by_cat[cat], p=cat_p[cat]))

    def neighbour_of(item: int) -> int:
        cands = by_cat[item_cat[item]]
        near = np.abs(style[cands] - style[item])
        w = cat_p[item_cat[item]] * np.exp(-near / 0.05)
        w[cands == item] = 0.0
        if w.sum() <= 0:
            return popular_in(int(item_cat[item]))
        return int(rng.choice(cands, p=w / w.sum()))

    for u in range(n_users):
        user = f"u{u:05d}"
        prefs = rng.choice(n_categories, size=int(rng.integers(1, 4)), p=cat_share)
        n_sessions = 1 + min(int(rng.poisson(rng.lognormal(0.0, 1.0))), 14)
        first_day = rng.uniform(0, days)
        sess_at = np.sort(np.r_[first_day, rng.uniform(first_day, days, n_sessions - 1)]) * 86400
        seen: list[int] = []
        bought: list[int] = []
        pending: list[int] = []  # carted, not bought yet
        for t0 in sess_at:
            t = float(t0)
            cat = int(rng.choice(prefs)) if rng.random() < 0.85 else int(rng.choice(n_categories, p=cat_share))
            if seen and rng.random() < 0.35:  # come back to something seen before (recent first)
                back = min(len(seen), 1 + int(rng.geometric(0.3)))
                item = seen[-back]
            else:
                item = popular_in(cat)
            for _ in range(int(rng.geometric(0.15))):
                rows.append((user, str(item), "view", t))
                seen.append(item)
                t += rng.exponential(50)
                r = rng.random()
                if r < 0.07:
                    rows.append((user, str(item), "cart", t))
                    pending.append(item)
                    t += rng.exponential(20)
                elif r < 0.10:
                    rows.append((user, str(item), "favourite", t))
                r = rng.random()
                if r < 0.08:
                    continue  # refresh: the same item again
                if r < 0.20 and len(seen) > 1:
                    item = seen[-1 - int(rng.integers(1, min(len(seen), 6)))]  # back to an earlier item
                elif r < 0.30:
                    item = popular_in(int(rng.choice(prefs)))
                else:
                    item = neighbour_of(item)
            for item in list(pending):
                if rng.random() < 0.35:
                    rows.append((user, str(item), "purchase", t))
                    bought.append(item)
                    pending.remove(item)
                    t += rng.exponential(30)
            if rng.random() < 0.04:  # bought without a view (app re-order, external link)
                item = popular_in(int(rng.choice(prefs)))
                rows.append((user, str(item), "purchase", t))
                bought.append(item)
            if bought and rng.random() < 0.05:  # repeat purchase
                rows.append((user, str(bought[int(rng.integers(len(bought)))]), "purchase", t + 5))
    frame = pd.DataFrame(rows, columns=["user_id", "product_id", "event_type", "seconds"])
    frame = frame[frame["seconds"] < days * 86400].sort_values(["seconds", "user_id"], kind="stable")
    at = pd.Timestamp(start) + pd.to_timedelta(frame["seconds"].to_numpy(), unit="s")
    events = pd.DataFrame({
        "event_id": [f"e{i:07d}" for i in range(len(frame))], "session_id": None,
        "user_id": frame["user_id"].to_numpy(), "event_type": frame["event_type"].to_numpy(),
        "product_id": ("i" + frame["product_id"]).to_numpy(), "query": None, "price": np.nan, "device": None,
        "event_at": at, "event_date": at.date,
    })
    products = pd.DataFrame({"product_id": [f"i{i}" for i in range(n_items)],
                             "category": [f"c{c}" for c in item_cat]})
    return Clickstream(events.reset_index(drop=True), products, as_of)
