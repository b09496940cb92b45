"""Inputs of the recommender: interactions from the marts, popularity, item side features.

Everything here turns warehouse rows into the frames and arrays the model and the
baselines share; nothing here trains or scores.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from tasks.train.data import read_daily_features
from tasks.train.recommender.config import RecommenderConfig
from tasks.warehouse import read_frame, table_exists

TOKEN_RE = re.compile(r"[a-z]{2,}")


def interactions_from_frames(events: pd.DataFrame, order_lines: pd.DataFrame,
                             cfg: RecommenderConfig) -> pd.DataFrame:
    """One row per (user, item, ts, weight), sorted by user then time.

    Consecutive repeats of the same item by a user (view, view, cart) collapse
    into one interaction with the strongest weight: "next item" should mean a
    different item, not a page refresh.
    """
    # Anonymous rows (no user id: guests, logged-out browsing) have no history to learn from or
    # to recommend to. Kept, ``astype(str)`` would merge them all into one user named "nan"/"None"
    # (pandas 2) or leave NA keys that crash the baselines (pandas 3).
    events = events[events["user_id"].notna()] if not events.empty else events
    order_lines = order_lines[order_lines["user_id"].notna()] if not order_lines.empty else order_lines
    parts = []
    if not events.empty:
        ev = events[events["event_type"].isin(list(cfg.event_weights))]
        parts.append(pd.DataFrame({
            "user_id": ev["user_id"].astype(str), "item_id": ev["product_id"].astype(str),
            "ts": pd.to_datetime(ev["event_at"]), "weight": ev["event_type"].map(cfg.event_weights),
        }))
    has_purchase_events = not events.empty and (events["event_type"] == "purchase").any()
    if not order_lines.empty and not has_purchase_events:
        parts.append(pd.DataFrame({
            "user_id": order_lines["user_id"].astype(str), "item_id": order_lines["product_id"].astype(str),
            "ts": pd.to_datetime(order_lines["ordered_at"]), "weight": cfg.purchase_weight,
        }))
    if not parts:
        return pd.DataFrame({"user_id": pd.Series(dtype=str), "item_id": pd.Series(dtype=str),
                             "ts": pd.Series(dtype="datetime64[ns]"), "weight": pd.Series(dtype=float)})
    inter = pd.concat(parts, ignore_index=True).sort_values(["user_id", "ts", "item_id"], kind="stable")
    new_run = (inter["item_id"] != inter["item_id"].shift()) | (inter["user_id"] != inter["user_id"].shift())
    inter["run"] = new_run.cumsum()
    out = inter.groupby("run", sort=True).agg(
        user_id=("user_id", "first"), item_id=("item_id", "first"), ts=("ts", "first"),
        weight=("weight", "max"))
    return out.reset_index(drop=True).astype({"weight": float})


def popularity(inter: pd.DataFrame, start: datetime, end: datetime) -> pd.Series:
    """Event-weighted interaction mass per item in ``[start, end)``, most popular first
    (ties by item id so the order is deterministic)."""
    window = inter[(inter["ts"] >= start) & (inter["ts"] < end)]
    pop = window.groupby("item_id")["weight"].sum()
    order = sorted(pop.index, key=lambda i: (-pop[i], i))
    return pop.loc[order] if order else pd.Series(dtype=float)


def with_index(inter: pd.DataFrame, vocab: list[str]) -> pd.DataFrame:
    """``inter`` plus ``item_idx`` (1-based position in ``vocab``; 0 = unknown item)."""
    index = {item: i for i, item in enumerate(vocab, start=1)}
    return inter.assign(item_idx=inter["item_id"].map(index).fillna(0).astype(np.int64))


@dataclass
class ItemSide:
    """Per-item side features aligned with the vocabulary (row 0 = padding)."""

    category: np.ndarray  # (V+1,) int64, 0 = unknown
    price_band: np.ndarray  # (V+1,) int64, 0 = unknown
    tokens: np.ndarray  # (V+1, max_tokens) int64 hashed word ids, 0 = padding
    n_categories: int

    def to_dict(self) -> dict[str, Any]:
        return {"n_categories": self.n_categories}


def _hash_tokens(text: str, buckets: int, max_tokens: int) -> list[int]:
    words = list(dict.fromkeys(TOKEN_RE.findall(text.lower())))[:max_tokens]
    return [zlib.crc32(w.encode()) % buckets + 1 for w in words]


def item_side_features(vocab: list[str], products: pd.DataFrame, cfg: RecommenderConfig) -> ItemSide:
    """Category, price band (quantiles of log price over the vocabulary) and hashed text.

    ``products`` may have any of product_id, category, list_price, title, description;
    missing columns or items simply leave that feature unknown.
    """
    n = len(vocab)
    frame = None
    if not products.empty and "product_id" in products:
        frame = (products.assign(product_id=products["product_id"].astype(str))
                 .drop_duplicates("product_id").set_index("product_id"))

    def col(name: str) -> pd.Series:
        if frame is None or name not in frame:
            return pd.Series([None] * n, index=vocab, dtype=object)
        return frame[name].reindex(vocab)

    cats = col("category").astype(object).where(col("category").notna(), None)
    names = sorted({c for c in cats if c is not None})
    cat_idx = {c: i for i, c in enumerate(names, start=1)}
    category = np.zeros(n + 1, dtype=np.int64)
    category[1:] = [cat_idx.get(c, 0) for c in cats]

    price = pd.to_numeric(col("list_price"), errors="coerce").to_numpy(dtype=float)
    band = np.zeros(n + 1, dtype=np.int64)
    ok = np.isfinite(price) & (price > 0)
    if ok.any():
        edges = np.quantile(np.log(price[ok]), np.linspace(0, 1, cfg.n_price_bands + 1)[1:-1])
        band[1:][ok] = np.searchsorted(edges, np.log(price[ok]), side="right") + 1

    text = (col("title").fillna("").astype(str) + " " + col("description").fillna("").astype(str))
    tokens = np.zeros((n + 1, cfg.max_tokens), dtype=np.int64)
    for i, t in enumerate(text, start=1):
        ids = _hash_tokens(t, cfg.text_buckets, cfg.max_tokens)
        tokens[i, : len(ids)] = ids
    return ItemSide(category, band, tokens, len(names))


#: The daily feature table the recommender reads (item side); monitoring profiles it for drift.
FEATURE_TABLE = "features.item_features"


def read_item_attributes(as_of_date: date) -> pd.DataFrame:
    """product_id, category, list_price, title, description from ``marts.dim_products``,
    completed by ``features.item_features`` (category, price_mean_30d) for missing items.
    Empty when neither table exists (the model then uses item ids only)."""
    cols = ["product_id", "category", "list_price", "title", "description"]
    products = pd.DataFrame(columns=cols)
    if table_exists("marts.dim_products"):
        products = read_frame("SELECT * FROM marts.dim_products")
        products = products[[c for c in cols if c in products.columns]].copy()
        products["product_id"] = products["product_id"].astype(str)
    feats, _ = read_daily_features(FEATURE_TABLE, as_of_date)
    if not feats.empty and {"product_id", "category"} <= set(feats.columns):
        feats = pd.DataFrame({"product_id": feats["product_id"].astype(str), "category": feats["category"],
                              "list_price": feats.get("price_mean_30d")})
        missing = feats[~feats["product_id"].isin(set(products["product_id"]))]
        products = pd.concat([products, missing], ignore_index=True)
    return products
