"""Features of one (search, shown product) pair, all point-in-time.

Every history feature of a search on day D uses only what happened before D 00:00 (the
daily batch protocol the scorer serves with): the user's product interactions (category
affinity), the user's earlier clicks on search results (price preference) and the
product's interaction rate (popularity). ``counts_before`` does that with one
``merge_asof`` per feature instead of a (user x day x category) cube, so M fits in memory.

Columns (``FEATURES``):

- text: ``bm25`` (rank_bm25, title + description), ``bm25_norm`` (share of the list's best
  BM25), ``title_coverage``/``description_coverage`` (share of query tokens found),
  ``brand_in_query``;
- product: ``log_popularity`` (log1p interactions per day before D), ``price_ratio``
  (log of list price over its category's median list price);
- user: ``has_history``, ``log_history``, ``category_share`` (the user's share of
  interactions in the product's category, shrunk towards the shop's mix by
  ``affinity_prior`` pseudo-interactions), ``category_lift`` (log of that share over the
  shop's), ``price_pref`` (mean ``price_ratio`` of results the user clicked before D),
  ``price_pref_x_ratio``, ``log_clicks`` and ``brand_affinity`` (share of the user's earlier
  clicks that went to the product's brand, one pseudo-click of prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.train.search_ranker.text import LexicalIndex

FEATURES = ("bm25", "bm25_norm", "title_coverage", "description_coverage", "brand_in_query",
            "log_popularity", "price_ratio", "has_history", "log_history", "category_share",
            "category_lift", "price_pref", "price_pref_x_ratio", "log_clicks", "brand_affinity")
TEXT_FEATURES = ("bm25", "title_coverage", "description_coverage", "brand_in_query")
ANONYMOUS = "\x00anonymous"  # the key of searches without a user: never matches a history row
UNKNOWN_CATEGORY = ""
MIN_SHARE = 1e-3


def day_number(values: object) -> np.ndarray:
    """UTC day index (days since 1970-01-01) of timestamps or dates."""
    return pd.to_datetime(pd.Series(values)).to_numpy().astype("datetime64[D]").astype(np.int64)


@dataclass
class Catalogue:
    """The products a ranker can return, with their lexical index and attributes."""

    index: LexicalIndex
    category: np.ndarray  # text per product ("" unknown)
    price_ratio: np.ndarray  # log(list price / category median); 0 unknown
    brand: np.ndarray  # lower-case text per product ("" unknown)

    @classmethod
    def from_products(cls, products: pd.DataFrame) -> Catalogue:
        frame = products.drop_duplicates("product_id").reset_index(drop=True)
        category = (frame["category"] if "category" in frame else pd.Series([None] * len(frame)))
        category = category.fillna(UNKNOWN_CATEGORY).astype(str).to_numpy()
        price = pd.to_numeric(frame.get("list_price", pd.Series([np.nan] * len(frame))), errors="coerce")
        price = price.where(price > 0)
        median = price.groupby(category).transform("median")
        ratio = np.log(price / median).fillna(0.0).to_numpy(dtype=float)
        brand = (frame["brand"] if "brand" in frame else pd.Series([None] * len(frame)))
        brand = brand.fillna("").astype(str).str.lower().to_numpy()
        return cls(LexicalIndex(frame), category, ratio, brand)

    def __len__(self) -> int:
        return len(self.index.product_ids)


def counts_before(events: pd.DataFrame, keys: list[str], value: str, queries: pd.DataFrame) -> np.ndarray:
    """For each query row (keys + ``day``): the sum of ``value`` over ``events`` rows with the same
    keys and ``day`` strictly before the query's day. Zero when there is none."""
    if events.empty or queries.empty:
        return np.zeros(len(queries))
    daily = events.groupby([*keys, "day"], sort=False)[value].sum().reset_index().sort_values("day")
    daily["_cum"] = daily.groupby(keys, sort=False)[value].cumsum()
    q = queries[[*keys, "day"]].copy()
    q["_row"] = np.arange(len(q))
    q = q.sort_values("day", kind="stable")
    merged = pd.merge_asof(q, daily[[*keys, "day", "_cum"]], on="day", by=keys, allow_exact_matches=False)
    return merged.sort_values("_row")["_cum"].fillna(0.0).to_numpy(dtype=float)


@dataclass
class History:
    """What happened before each day: product interactions and clicks on search results.

    ``interactions``: user_id, product_id, category, day. ``clicks``: user_id, day, price_ratio
    and brand (of the clicked product). ``start_day``: the window's first day (popularity is a rate
    over the days seen so far, so early and late days compare).
    """

    interactions: pd.DataFrame
    clicks: pd.DataFrame
    start_day: int

    def user_state(self, users: np.ndarray, days: np.ndarray, categories: np.ndarray,
                   brands: np.ndarray) -> dict[str, np.ndarray]:
        """Per row: the user's interactions before the day (total and in ``categories``), the
        sum and count of clicked results' price ratios, and clicks on ``brands``."""
        q = pd.DataFrame({"user_id": users, "day": days, "category": categories, "brand": brands})
        inter = self.interactions.assign(one=1.0)
        clicks = self.clicks.assign(one=1.0)
        return {
            "total": counts_before(inter, ["user_id"], "one", q),
            "in_category": counts_before(inter, ["user_id", "category"], "one", q),
            "price_sum": counts_before(clicks, ["user_id"], "price_ratio", q),
            "n_clicks": counts_before(clicks, ["user_id"], "one", q),
            "brand_clicks": counts_before(clicks, ["user_id", "brand"], "one", q),
        }

    def popularity(self, product_ids: np.ndarray, days: np.ndarray) -> np.ndarray:
        """log1p(interactions per day) of each product before the day, within the window."""
        q = pd.DataFrame({"product_id": product_ids, "day": days})
        counts = counts_before(self.interactions.assign(one=1.0), ["product_id"], "one", q)
        return np.log1p(counts / np.maximum(days - self.start_day, 1))


def user_features(state: dict[str, np.ndarray], categories: np.ndarray, shop_share: dict[str, float],
                  prior: float, price_ratio: np.ndarray) -> dict[str, np.ndarray]:
    """User-side columns from a (user or segment) history state; see the module docstring."""
    base = np.array([max(shop_share.get(c, MIN_SHARE), MIN_SHARE) for c in categories])
    total = state["total"]
    share = (state["in_category"] + prior * base) / np.maximum(total + prior, 1e-9)
    n_clicks = state["n_clicks"]
    pref = np.where(n_clicks > 0, state["price_sum"] / np.maximum(n_clicks, 1), 0.0)
    return {"has_history": (total > 0).astype(float), "log_history": np.log1p(total),
            "category_share": share, "category_lift": np.log(np.maximum(share, MIN_SHARE) / base),
            "price_pref": pref, "price_pref_x_ratio": pref * price_ratio, "log_clicks": np.log1p(n_clicks),
            "brand_affinity": state["brand_clicks"] / (n_clicks + 1.0)}


def item_features(catalogue: Catalogue, history: History, queries: np.ndarray, positions: np.ndarray,
                  days: np.ndarray, list_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Query-product and product columns for rows of (query, catalogue position, day, list)."""
    out = {name: np.zeros(len(positions)) for name in TEXT_FEATURES}
    for query, rows in pd.Series(queries).groupby(queries, sort=False).indices.items():
        found = catalogue.index.lookup(str(query))
        for name in TEXT_FEATURES:
            out[name][rows] = found[name][positions[rows]]
    best = pd.Series(out["bm25"]).groupby(list_ids).transform("max").to_numpy()
    out["bm25_norm"] = np.where(best > 0, out["bm25"] / np.where(best > 0, best, 1.0), 0.0)
    out["log_popularity"] = history.popularity(catalogue.index.product_ids[positions], days)
    out["price_ratio"] = catalogue.price_ratio[positions]
    return out


def matrix(columns: dict[str, np.ndarray]) -> np.ndarray:
    """The columns in ``FEATURES`` order as a float32 matrix."""
    return np.stack([np.asarray(columns[name], dtype=np.float32) for name in FEATURES], axis=1)


def shop_category_share(interactions: pd.DataFrame) -> dict[str, float]:
    """The shop's category mix over the interactions (the prior every user is shrunk towards)."""
    if interactions.empty:
        return {}
    share = interactions["category"].value_counts(normalize=True)
    return {str(k): float(v) for k, v in share.items()}
