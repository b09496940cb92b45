"""Next-day recommender: SASRec + neighbourhood signals, mixed by learned weights; a
baseline that beats it is served instead (``docs/recommender.md``).

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.recommender import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: product interactions in ``[as_of - lookback_days, as_of)`` from
   ``marts.fct_events`` (view/cart/purchase) and ``marts.fct_order_lines``
   (order lines count as purchases only when the window has no purchase events,
   so a purchase is never counted twice). Item side features come from
   ``marts.dim_products`` (category, list price, title + description) and, for
   items it lacks, ``features.item_features`` (category, 30-day mean price);
   sources without a product table get id-only items.
2. Holdout (daily batch protocol, what ``score_recommendations`` serves): the
   list for day D is computed from interactions before D 00:00. The holdout is
   the last ``min(holdout_days, holdout_fraction x span)`` days (>= 1) of the
   data actually present (``plan_split``; a fixed 7 days on a 9-day clickstream
   left 2 days to train on, issue 14), and the protocol line in the artefact
   says what was used. For every user and every day D of the holdout with
   interactions, the query is the user's history before D and the targets are
   the distinct items (any event type: the same targets for every policy) the
   user interacted with on D. Items first seen in the holdout are sure misses
   for every policy; users without history get popularity (the serving
   fallback) under every policy. Training uses interactions before the split.
3. Model (``strategy = model``): a hybrid. SASRec: item vector = id embedding +
   category + price band + hashed bag-of-words of title/description (each side
   feature is optional: unknown = 0); 1-2 pre-norm causal self-attention blocks
   over the last ``max_history`` items, plus a repeat channel. Every position
   predicts an item of the user's *next active day* (weighted by event type) and,
   with ``next_item_weight``, the user's next item whatever its day (on a week of
   events most users are active on one or two days, so next-day targets alone
   teach less than half of the interactions). Softmax over the full catalogue up
   to ``full_softmax_items``, else sampled (the batch's targets + ``n_negatives``
   uniform items). The served score mixes SASRec's log-softmax with the
   neighbourhood signals (session-kNN, item-kNN, EASE, popularity, the user's own
   recent items, popularity within the user's recent categories) by weights
   learned on the ``holdout`` days *before* the split, every component refitted
   on data before those days (``fit_fusion``): out of sample, a handful of
   weights. On short clickstreams SASRec's weight comes out near zero and the
   mix carries the model; on longer histories (synthetic S) it matters.
4. Baselines on the same queries/targets (``tasks/train/ranking_baselines.py``):
   popularity, item-kNN (co-occurrence), recency-aware session kNN and EASE.
   Baselines are candidates through the registry's shared mechanism
   (``recipe.save_and_register(servable=...)``, docs/CONTRACTS.md "Served baselines"):
   when the best one beats the hybrid on HR@10 it is registered as its own version
   ``recommender-baseline_<name>-<date>-<hash>`` and scoring serves that baseline
   (``policy_ranker``); the serving rows carry that registry version.
5. Metrics: HR@10 (main), NDCG@10, MRR@20, catalogue coverage@10.

``exclude_seen`` (default False) removes items already in a user's history from
every policy's list. It is off because in the data we serve re-buying is the
norm: on UCI Online Retail (a wholesale gift shop) 30 % of next-day items in the
holdout were already in the user's last 200 interactions (14 % in the last 30);
on the synthetic shop 78 % (users return to items they viewed). Excluding them
would make those targets impossible to hit. A shop selling durable goods (one
sofa per customer) should turn it on; evaluation and scoring both honour it.

CPU cost: ``max_train_examples`` caps position updates over all epochs (see
``training_budget``); on the M shop training is one pass over a 1.2M-position
sample (~80 CPU s on one thread), the whole recipe ~2 CPU minutes.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainConfig,
    TrainResult,
    as_of_instant,
    config_from_dict,
    fit,
    pick_device,
    setup_torch,
)
from tasks.train.data import read_daily_features, read_interactions
from tasks.train.ranking_baselines import (
    CategoryPopularityRanker,
    Contexts,
    EASERanker,
    ItemKNNRanker,
    PopularityRanker,
    Queries,
    Ranker,
    RecentRanker,
    SessionKNNRanker,
    evaluate_rankers,
    policy_scores,
    top_k_items,
)
from tasks.train.recipe import ServableBaseline, save_and_register, winning_baseline
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "recommender"
MAIN_METRIC = "hr_at_10"
BASELINES = ("popularity", "item_knn", "session_knn", "ease")
TOKEN_RE = re.compile(r"[a-z]{2,}")


@dataclass(frozen=True)
class RecommenderConfig(TrainConfig):
    """Settings of the recommender recipe (defaults fit S/M synthetic and UCI data on CPU)."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    lookback_days: int = 90
    # Upper bound; the holdout is min(holdout_days, holdout_fraction x data span) days, >= 1.
    holdout_days: int = 7
    holdout_fraction: float = 0.2
    popularity_days: int = 30
    max_history: int = 30
    embedding_dim: int = 48
    n_blocks: int = 1
    n_heads: int = 2
    dropout: float = 0.5  # sparse baskets overfit: UCI HR@10 0.070 -> 0.077 vs 0.2; S -0.007, M same
    text_buckets: int = 2048
    max_tokens: int = 12
    n_price_bands: int = 8
    # Catalogues larger than this train with a sampled softmax: the batch's targets plus
    # n_negatives shared uniform items (a full softmax is positions x catalogue floats).
    full_softmax_items: int = 20_000
    n_negatives: int = 1024
    # Auxiliary next-item loss (any day). 0 = next-day targets only, which on a ~week-long
    # clickstream teaches only users active on two days (13k of 30k interactions).
    next_item_weight: float = 1.0
    view_weight: float = 1.0
    cart_weight: float = 3.0
    purchase_weight: float = 5.0
    recency_decay: float = 0.8  # item-kNN baseline: weight of an item k steps back = decay ** k
    exclude_seen: bool = False
    top_k: int = 10
    max_eval_targets: int = 20_000
    # Serve the hybrid (SASRec + neighbourhood signals, weights fitted on a validation window
    # before the split); False = SASRec alone. fusion_sasrec=False fuses the baselines only
    # (one SASRec fit instead of two).
    fusion: bool = True
    fusion_sasrec: bool = True
    max_vocab: int = 200_000
    # Caps CPU training cost: position updates over all epochs (see training_budget).
    # 1.2M keeps the M shop (~2.2M positions) near 90 CPU s of training on one thread.
    max_train_examples: int = 1_200_000

    def validate(self) -> None:
        super().validate()
        if self.holdout_days < 1 or self.lookback_days <= self.holdout_days:
            raise ValueError("need lookback_days > holdout_days >= 1")
        if min(self.popularity_days, self.max_history, self.embedding_dim, self.top_k, self.n_blocks,
               self.n_heads, self.text_buckets, self.max_tokens, self.n_price_bands) < 1:
            raise ValueError("sizes (days, history, dims, blocks, heads, buckets, bands, top_k) must be >= 1")
        if self.embedding_dim % self.n_heads:
            raise ValueError("embedding_dim must be divisible by n_heads")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.n_negatives < 0 or self.full_softmax_items < 1 or self.next_item_weight < 0:
            raise ValueError("n_negatives and next_item_weight must be >= 0, full_softmax_items >= 1")
        if min(self.view_weight, self.cart_weight, self.purchase_weight) <= 0:
            raise ValueError("event weights must be > 0")
        if not 0 < self.recency_decay <= 1:
            raise ValueError("recency_decay must be in (0, 1]")
        if not 0 < self.holdout_fraction < 1:
            raise ValueError("holdout_fraction must be in (0, 1)")
        if self.max_eval_targets < 1 or self.max_train_examples < 1 or self.max_vocab < 1:
            raise ValueError("max_eval_targets and max_train_examples must be >= 1")

    @property
    def event_weights(self) -> dict[str, float]:
        return {"view": self.view_weight, "cart": self.cart_weight, "purchase": self.purchase_weight}


# ------------------------------------------------------------- data prep ----
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


# ----------------------------------------------------------- item sides ----
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
    feats, _ = read_daily_features("features.item_features", as_of_date)
    if not feats.empty and {"product_id", "category"} <= set(feats.columns):
        feats = pd.DataFrame({"product_id": feats["product_id"].astype(str), "category": feats["category"],
                              "list_price": feats.get("price_mean_30d")})
        missing = feats[~feats["product_id"].isin(set(products["product_id"]))]
        products = pd.concat([products, missing], ignore_index=True)
    return products


# ------------------------------------------------------------- sequences ----
def build_queries(inter: pd.DataFrame, vocab: list[str], max_history: int, start: datetime, end: datetime,
                  max_targets: int | None = None, seed: int = 0) -> Queries:
    """The holdout: one query per (user, day in ``[start, end)``) with interactions.

    The query's context is the user's known items before that day's 00:00 (the
    daily batch sees nothing later); its targets are the distinct items of that
    day. ``max_targets`` keeps a seeded sample of targets (chosen by target, so
    any model's vocabulary and history length pick the same ones).
    """
    idx = with_index(inter, vocab)
    day = idx["ts"].dt.floor("D")
    tgt = idx[(idx["ts"] >= start) & (idx["ts"] < end)].assign(day=day)
    tgt = tgt.drop_duplicates(["user_id", "day", "item_id"]).sort_values(["user_id", "day", "item_id"])
    if max_targets is not None and len(tgt) > max_targets:
        keep = np.sort(np.random.default_rng(seed).choice(len(tgt), max_targets, replace=False))
        tgt = tgt.iloc[keep]
    keys = tgt[["user_id", "day"]].drop_duplicates()
    users, days = keys["user_id"].tolist(), keys["day"].tolist()
    ctx = _contexts(idx[idx["ts"] < end], users, days, max_history)
    qrow = {(u, d): r for r, (u, d) in enumerate(zip(users, days, strict=True))}
    target_query = np.array([qrow[(u, d)] for u, d in zip(tgt["user_id"], tgt["day"], strict=True)],
                            dtype=np.int64)
    targets = tgt["item_idx"].to_numpy(dtype=np.int64)
    return Queries(ctx, users, days, np.where(targets > 0, targets, -1), target_query)


def _contexts(idx: pd.DataFrame, users: list[str], days: list[pd.Timestamp], max_history: int) -> Contexts:
    """Row r = the last ``max_history`` known items of ``users[r]`` before ``days[r]``.

    Vectorised: histories are sorted by (user, time) once and each query's window is
    found by binary search on a (user code, seconds) key."""
    n = len(users)
    items = np.zeros((n, max_history), dtype=np.int64)
    weights = np.zeros((n, max_history), dtype=np.float32)
    ages = np.zeros((n, max_history), dtype=np.float32)
    hist = idx[idx["item_idx"] > 0].sort_values(["user_id", "ts"], kind="stable")
    if n == 0 or hist.empty:
        return Contexts(items, weights, ages)
    codes, names = pd.factorize(hist["user_id"], sort=True)
    origin = hist["ts"].min().floor("D") - pd.Timedelta(days=1)
    secs = ((hist["ts"] - origin) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    keys = codes.astype(np.int64) * 2**34 + secs
    q_code = pd.Index(names).get_indexer(pd.Index(users))
    q_at = pd.to_datetime(pd.Series(days))
    q_secs = ((q_at - origin) // pd.Timedelta(seconds=1)).clip(lower=0).to_numpy(dtype=np.int64)
    known = q_code >= 0
    user_start = np.searchsorted(keys, np.where(known, q_code, 0).astype(np.int64) * 2**34, side="left")
    cut = np.searchsorted(keys, np.where(known, q_code, 0).astype(np.int64) * 2**34 + q_secs, side="left")
    cut = np.where(known, cut, user_start)
    pos = cut[:, None] - max_history + np.arange(max_history)[None, :]
    valid = pos >= user_start[:, None]
    take = np.clip(pos, 0, len(hist) - 1)
    it, w = hist["item_idx"].to_numpy(), hist["weight"].to_numpy(dtype=np.float32)
    ts = hist["ts"].to_numpy()
    items[valid] = it[take][valid]
    weights[valid] = w[take][valid]
    age = (q_at.to_numpy()[:, None] - ts[take]) / np.timedelta64(1, "D")
    ages[valid] = age[valid].astype(np.float32)
    return Contexts(items, weights, ages)


def user_contexts(inter: pd.DataFrame, vocab: list[str], users: list[str], max_history: int,
                  at: datetime) -> Contexts:
    """Each user's known history before ``at`` (scoring: the lists served from ``at``)."""
    return _contexts(with_index(inter, vocab), users, [pd.Timestamp(at)] * len(users), max_history)


@dataclass
class TrainChunks:
    """Right-aligned windows of user sequences with one next-day target per position."""

    items: np.ndarray  # (n, L) int64, 0 = pad
    targets: np.ndarray  # (n, L) int64, 0 = no target
    weights: np.ndarray  # (n, L) float32 target weight
    # (n, L) int64: the user's next (different) item, whatever its day; 0 = none. An
    # auxiliary target: on a short clickstream most users are active on one or two days,
    # so next-day targets alone leave most interactions untaught (issue 14).
    next_items: np.ndarray | None = None

    @property
    def n_positions(self) -> int:
        """Positions with at least one target (next-day or next-item)."""
        mask = self.targets > 0
        if self.next_items is not None:
            mask |= self.next_items > 0
        return int(mask.sum())


def build_train_chunks(train: pd.DataFrame, vocab: list[str], max_history: int) -> TrainChunks:
    """Per user: known items in time order; position t's target is an item of the user's
    next active day after t's day (cycling through that day's items so every one of
    them is taught). The sequence is cut into windows of ``max_history`` from its end.
    Vectorised over all users (a per-user Python loop took ~20 s on the M shop)."""
    idx = with_index(train, vocab)
    idx = idx[idx["item_idx"] > 0].sort_values(["user_id", "ts"], kind="stable")
    n = len(idx)
    empty = np.zeros((0, max_history), dtype=np.int64)
    if n == 0:
        return TrainChunks(empty, empty.copy(), empty.astype(np.float32))
    user = pd.factorize(idx["user_id"])[0]
    items = idx["item_idx"].to_numpy()
    w = idx["weight"].to_numpy(dtype=np.float32)
    day = idx["ts"].dt.floor("D").to_numpy()
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_group = new_user | np.r_[True, day[1:] != day[:-1]]
    group = np.cumsum(new_group) - 1
    g_start = np.flatnonzero(new_group)
    g_end = np.r_[g_start[1:], n]
    has_next = np.r_[~new_user[g_start[1:]], False]  # the next group belongs to the same user
    pos = np.arange(n)
    g = group
    ok = has_next[g]  # positions on a user's last active day have no target
    nxt = np.minimum(g + 1, len(g_start) - 1)
    a, b = g_start[nxt], g_end[nxt]
    pick = a + (g_end[g] - 1 - pos) % np.maximum(b - a, 1)  # the day's last item -> next day's first
    targets = np.where(ok, items[pick], 0)
    tw = np.where(ok, w[pick], 0.0).astype(np.float32)
    u_start = np.flatnonzero(new_user)
    u_end = np.r_[u_start[1:], n]
    u_of = np.cumsum(new_user) - 1
    back = u_end[u_of] - 1 - pos  # steps before the user's last item
    chunk_in_user = back // max_history
    n_chunks = (u_end - u_start + max_history - 1) // max_history
    offset = np.r_[0, np.cumsum(n_chunks)[:-1]]
    row = offset[u_of] + chunk_in_user
    col = max_history - 1 - back % max_history
    shape = (int(n_chunks.sum()), max_history)
    out_i, out_t, out_w = np.zeros(shape, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.float32)
    out_i[row, col], out_t[row, col], out_w[row, col] = items, targets, tw
    same_user_next = np.r_[~new_user[1:], False]
    out_n = np.zeros(shape, np.int64)
    out_n[row, col] = np.where(same_user_next, np.r_[items[1:], 0], 0)
    # Rows are in user order, newest window first; windows without any target are dropped.
    keep = out_t.any(axis=1) | out_n.any(axis=1)
    return TrainChunks(out_i[keep], out_t[keep], out_w[keep], out_n[keep])


# ----------------------------------------------------------------- model ----
class CausalBlock(nn.Module):
    """Pre-norm self-attention + feed-forward; each position sees itself and earlier items."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class SASRec(nn.Module):
    """Items (id + category + price band + text) -> causal transformer -> next-day scores.

    Side features are buffers, so an artefact carries exactly the features the
    model was trained with; scoring never re-derives them from newer data.
    Index 0 is padding and is never recommended.
    """

    def __init__(self, n_items: int, n_categories: int, cfg: RecommenderConfig) -> None:
        super().__init__()
        d = cfg.embedding_dim
        self.ids = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.cats = nn.Embedding(n_categories + 1, d)
        self.bands = nn.Embedding(cfg.n_price_bands + 1, d)
        self.words = nn.EmbeddingBag(cfg.text_buckets + 1, d, mode="mean", padding_idx=0)
        self.pos = nn.Embedding(cfg.max_history, d)
        self.blocks = nn.ModuleList(CausalBlock(d, cfg.n_heads, cfg.dropout) for _ in range(cfg.n_blocks))
        self.ln = nn.LayerNorm(d)
        self.emb_drop = nn.Dropout(cfg.dropout)
        self.bias = nn.Parameter(torch.zeros(n_items + 1))
        # Repeat channel: re-buying is common (UCI: ~30 % of next-day items are already in
        # the user's history), and a dot product with one user vector ranks "any of my
        # 30 past items" poorly. Each past item gets a bonus that decays with how many
        # steps back it is, scaled by a per-user gate learned from the hidden state.
        self.repeat_steps = nn.Parameter(torch.full((cfg.max_history,), -2.0))
        self.repeat_gate = nn.Linear(d, 1)
        self.register_buffer("item_category", torch.zeros(n_items + 1, dtype=torch.long))
        self.register_buffer("item_band", torch.zeros(n_items + 1, dtype=torch.long))
        self.register_buffer("item_tokens", torch.zeros(n_items + 1, cfg.max_tokens, dtype=torch.long))
        for emb in (self.ids, self.cats, self.bands, self.words, self.pos):
            nn.init.normal_(emb.weight, std=0.05)
        with torch.no_grad():
            self.ids.weight[0].zero_()
            self.words.weight[0].zero_()

    def set_side(self, side: ItemSide) -> None:
        self.item_category.copy_(torch.as_tensor(side.category))
        self.item_band.copy_(torch.as_tensor(side.price_band))
        self.item_tokens.copy_(torch.as_tensor(side.tokens))

    def item_vectors(self) -> torch.Tensor:
        """(V+1, d): every item's vector; the padding row is zero."""
        vec = (self.ids.weight + self.cats(self.item_category) + self.bands(self.item_band)
               + self.words(self.item_tokens))
        return torch.cat([torch.zeros_like(vec[:1]), vec[1:]])

    def hidden(self, seq: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, d) hidden state after each position of right-aligned ``seq``."""
        items = self.item_vectors() if items is None else items
        n = seq.shape[1]
        x = items[seq] + self.pos.weight[None, :n]
        x = self.emb_drop(x)
        real = seq > 0
        eye = torch.eye(n, dtype=torch.bool, device=seq.device)
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=seq.device))
        mask = (causal[None] & real[:, None, :]) | eye[None]  # a padded row still attends to itself
        for block in self.blocks:
            x = block(x, mask[:, None])
        return self.ln(x)

    def repeat_bonus(self, seq: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, n_cols: int,
                     cols: torch.Tensor | None = None) -> torch.Tensor:
        """(P, n_cols) bonus, for the P positions where ``rows`` (B, L) is True, of the items
        each has already seen (itself and earlier): softplus(step weight) x softplus(gate).

        With ``cols`` (sorted item indices, the candidates of a sampled softmax) column j
        is item ``cols[j]`` and ``n_cols`` must be ``len(cols)``: the bonus is never built
        over the whole catalogue, which would be (P x V) on a huge one.
        """
        n = seq.shape[1]
        steps = torch.arange(n, device=seq.device)
        back = steps[:, None] - steps[None, :]  # (t, s): how many steps s is before t
        per_step = F.softplus(self.repeat_steps)[back.clamp(0, len(self.repeat_steps) - 1)]
        per_step = torch.where(back >= 0, per_step, torch.zeros_like(per_step))  # (t, s)
        b_idx, t_idx = rows.nonzero(as_tuple=True)
        ctx = seq[b_idx]  # (P, L)
        vals = per_step[t_idx] * (ctx > 0) * F.softplus(self.repeat_gate(h[b_idx, t_idx]))
        if cols is not None:
            at = torch.searchsorted(cols, ctx).clamp(max=len(cols) - 1)
            vals = vals * (cols[at] == ctx)
            ctx = at
        out = torch.zeros(len(b_idx), n_cols, device=seq.device, dtype=vals.dtype)
        return out.scatter_add_(1, ctx, vals)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, V+1) scores of every item after the last position (padding scored -inf)."""
        items = self.item_vectors()
        h = self.hidden(seq, items)
        last = torch.zeros_like(seq, dtype=torch.bool)
        last[:, -1] = True
        logits = h[:, -1] @ items.T + self.bias + self.repeat_bonus(seq, h, last, len(items))
        logits = logits.float()
        logits[:, 0] = float("-inf")
        return logits


def make_loss(cfg: RecommenderConfig, n_items: int):  # noqa: ANN201 - a loss closure for common.fit
    """Weighted next-day cross-entropy plus ``next_item_weight`` x next-item cross-entropy.

    Softmax over the full catalogue while it has at most ``full_softmax_items``
    items. Larger catalogues use a sampled softmax: the candidates are every target
    of the batch (in-batch negatives for the other positions) plus ``n_negatives``
    seeded uniform items, so a batch costs O(positions x candidates) instead of
    O(positions x catalogue) and a catalogue of millions of items still trains.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    sampled = n_items > cfg.full_softmax_items
    safe = 0 if sampled else 1  # a real column (sampled: the first candidate; full: item 1)

    def ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # Positions without this target get weight 0 and a harmless stand-in label (column 0
        # is -inf in a full softmax: its loss would be inf, and inf x 0 is NaN).
        per = F.cross_entropy(logits, torch.where(weight > 0, target, torch.full_like(target, safe)),
                              reduction="none")
        per = torch.where(weight > 0, per, torch.zeros_like(per))
        total = weight.sum()
        return (per * weight).sum() / total if total > 0 else per.sum() * 0.0

    def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        items = model.item_vectors()
        seq = batch["items"]
        h_all = model.hidden(seq, items)
        day, nxt = batch["targets"], batch.get("next_items", torch.zeros_like(batch["targets"]))
        keep = (day > 0) | (nxt > 0)
        h, day, nxt, w = h_all[keep], day[keep], nxt[keep], batch["weights"][keep]
        if sampled:
            neg = torch.randint(1, n_items + 1, (max(cfg.n_negatives, 1),), generator=gen).to(h.device)
            cand = torch.unique(torch.cat([day[day > 0], nxt[nxt > 0], neg]))  # sorted
            bonus = model.repeat_bonus(seq, h_all, keep, len(cand), cand)
            logits = (h @ items[cand].T + model.bias[cand] + bonus).float()
            day_t = torch.where(day > 0, torch.searchsorted(cand, day), -1)
            nxt_t = torch.where(nxt > 0, torch.searchsorted(cand, nxt), -1)
        else:
            bonus = model.repeat_bonus(seq, h_all, keep, len(items))  # rows in keep's order
            logits = (h @ items.T + model.bias + bonus).float()
            logits[:, 0] = float("-inf")
            day_t, nxt_t = torch.where(day > 0, day, -1), torch.where(nxt > 0, nxt, -1)
        out = ce(logits, day_t, w * (day_t >= 0))
        if cfg.next_item_weight > 0:
            out = out + cfg.next_item_weight * ce(logits, nxt_t, (nxt_t >= 0).to(logits.dtype))
        return out

    return loss


class SASRecRanker:
    """The model as a ``Ranker`` (batched, no grad)."""

    def __init__(self, model: SASRec, device: torch.device, batch_size: int = 1024) -> None:
        self.model = model.to(device).eval()
        self.device = device
        self.batch_size = batch_size

    @torch.no_grad()
    def scores(self, ctx: Contexts) -> np.ndarray:
        out = []
        n_pos = self.model.pos.weight.shape[0]
        items = ctx.items[:, -n_pos:]
        for s in range(0, len(items), self.batch_size):
            seq = torch.as_tensor(items[s:s + self.batch_size], device=self.device)
            out.append(self.model(seq).cpu().numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, self.model.bias.shape[0]))


# ---------------------------------------------------------------- hybrid ----
FUSION_FLOOR = 1e-4  # log(FLOOR + x): an item no neighbour mentions sits at log(1e-4), not -inf


def _log_minmax(scores: np.ndarray) -> np.ndarray:
    """Per row: min-max to [0, 1] over the real items, then log(FLOOR + x). Makes scores of
    any scale (co-occurrence sums, EASE weights, popularity mass) comparable features."""
    s = np.where(np.isfinite(scores), scores, np.nan)
    s[:, 0] = np.nan
    lo, hi = np.nanmin(s, axis=1, keepdims=True), np.nanmax(s, axis=1, keepdims=True)
    x = (s - lo) / np.maximum(hi - lo, 1e-12)
    out = np.log(FUSION_FLOOR + np.nan_to_num(x, nan=0.0))
    out[:, 0] = 0.0
    return out


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    s = scores.copy()
    s[:, 0] = -np.inf
    s = s - s.max(axis=1, keepdims=True)
    out = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    out[:, 0] = 0.0
    return out


class HybridRanker:
    """The learned recommender as served: SASRec's log-softmax plus the neighbourhood
    signals (session-kNN, item-kNN, EASE, popularity), mixed by learned weights.

    Why: on a short clickstream (about a week, most users active on one or two days)
    co-occurrence methods are hard to beat (issue 14: session-kNN 0.0051 vs the
    transformer 0.0006); SASRec adds order and side features where data allows. The
    weights are fitted on a validation day *before* the split, with every component
    trained on data before that day, so the mix is learned out of sample.
    """

    def __init__(self, components: dict[str, Ranker], weights: dict[str, float]) -> None:
        self.components = components
        self.weights = weights

    def features(self, ctx: Contexts) -> dict[str, np.ndarray]:
        """name -> (n, V+1) feature matrix of every component with a weight."""
        out = {}
        for name in self.weights:
            raw = self.components[name].scores(ctx)
            out[name] = _log_softmax(raw) if name == "sasrec" else _log_minmax(raw)
        return out

    def scores(self, ctx: Contexts) -> np.ndarray:
        feats = self.features(ctx)
        out = np.zeros((len(ctx), next(iter(feats.values())).shape[1])) if feats else np.zeros((len(ctx), 1))
        for name, f in feats.items():
            out += self.weights[name] * f
        out[:, 0] = -np.inf
        return out


def fit_fusion(components: dict[str, Ranker], queries: Queries, n_items: int, n_candidates: int = 100,
               seed: int = 0, l2: float = 1e-3, steps: int = 200) -> dict[str, float]:
    """Weights of each component's feature, by softmax cross-entropy of the validation
    targets over the union of every component's top ``n_candidates`` items.

    A handful of weights from thousands of targets cannot overfit much; candidates
    keep it O(queries x candidates) whatever the catalogue size. Targets that no
    component puts in its top list carry no signal about the mix and are dropped.
    """
    names = sorted(components)
    probe = HybridRanker(components, {n: 1.0 for n in names})
    feats_all, pos_all = [], []
    order = np.argsort(queries.target_query, kind="stable")
    bounds = np.searchsorted(queries.target_query[order], np.arange(len(queries.ctx) + 1))
    warm = queries.ctx.has_history
    step = eval_batch_size(n_items)
    for start in range(0, len(queries.ctx), step):
        stop = min(start + step, len(queries.ctx))
        ctx = queries.ctx.take(slice(start, stop))
        feats = probe.features(ctx)
        masked = {n: np.where(np.arange(f.shape[1])[None, :] > 0, f, -np.inf) for n, f in feats.items()}
        cand = np.concatenate([top_k_items(m, n_candidates) for m in masked.values()], axis=1)
        cand = np.sort(cand, axis=1)
        dup = np.c_[np.zeros((len(cand), 1), dtype=bool), cand[:, 1:] == cand[:, :-1]]
        stacked = np.stack([np.take_along_axis(feats[n], cand, axis=1) for n in names], axis=-1)
        for j in order[bounds[start]:bounds[stop]]:
            r = queries.target_query[j] - start
            t = queries.targets[j]
            if t <= 0 or not warm[start + r]:
                continue  # unknown item, or a cold user (served popularity whatever the mix)
            hit = np.flatnonzero((cand[r] == t) & ~dup[r])
            if len(hit):
                f = stacked[r].copy()
                f[dup[r]] = np.nan
                feats_all.append(f)
                pos_all.append(int(hit[0]))
    if len(pos_all) < 20:
        log.info("recommender: %d usable validation targets; fusion keeps SASRec alone", len(pos_all))
        return {"sasrec": 1.0}
    x = torch.as_tensor(np.stack(feats_all), dtype=torch.float64)  # (N, K, F)
    mask = torch.isnan(x[..., 0])
    x = torch.nan_to_num(x, nan=0.0)
    y = torch.as_tensor(pos_all)
    torch.manual_seed(seed)
    w = torch.zeros(len(names), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logits = (x @ w).masked_fill(mask, float("-inf"))
        loss = F.cross_entropy(logits, y) + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    weights = {n: float(v) for n, v in zip(names, w.detach().tolist(), strict=True)}
    log.info("recommender: fusion weights %s from %d validation targets", weights, len(pos_all))
    return weights


# ------------------------------------------------------------ evaluation ----
@dataclass
class Holdout:
    """The evaluation set every version (new, baselines, champion) is scored on."""

    inter: pd.DataFrame
    split: datetime
    end: datetime
    popularity: pd.Series  # item_id -> mass in the popularity_days before the split


def make_holdout(inter: pd.DataFrame, split: datetime, end: datetime, cfg: RecommenderConfig) -> Holdout:
    pop = popularity(inter, split - timedelta(days=cfg.popularity_days), split)
    return Holdout(inter=inter, split=split, end=end, popularity=pop)


def popularity_ranker(pop: pd.Series, vocab: list[str]) -> PopularityRanker:
    index = {item: i for i, item in enumerate(vocab, start=1)}
    known = [(index[i], float(m)) for i, m in pop.items() if i in index]
    return PopularityRanker.from_counts((i for i, _ in known), (m for _, m in known), len(vocab))


def eval_batch_size(n_items: int) -> int:
    """Queries per scoring batch: a (batch x catalogue) float64 matrix per component stays
    near 100 MB on a huge catalogue instead of GBs."""
    return int(max(32, min(1024, 12_000_000 // max(n_items + 1, 1))))


def evaluate(rankers: dict[str, Ranker], vocab: list[str], max_history: int, holdout: Holdout,
             eval_cfg: RecommenderConfig) -> dict[str, dict[str, float]]:
    """Metrics of each ranker on the holdout queries (fixed by ``eval_cfg``: k, target
    sample, exclusion), with the popularity list as every policy's cold-start fallback."""
    queries = build_queries(holdout.inter, vocab, max_history, holdout.split, holdout.end,
                            eval_cfg.max_eval_targets, eval_cfg.seed)
    fallback = popularity_ranker(holdout.popularity, vocab)
    return evaluate_rankers(rankers, queries, fallback, len(vocab), exclude_seen=eval_cfg.exclude_seen,
                            k=eval_cfg.top_k, batch_size=eval_batch_size(len(vocab)))


def build_baselines(train: pd.DataFrame, vocab: list[str], holdout: Holdout,
                    cfg: RecommenderConfig) -> dict[str, Ranker]:
    """Every baseline, fitted on ``train`` (interactions before ``holdout.split``)."""
    idx = with_index(train[train["ts"] < holdout.split], vocab)
    pop = popularity_ranker(holdout.popularity, vocab)
    return {
        "popularity": pop,
        "item_knn": ItemKNNRanker(idx, len(vocab), pop, decay=cfg.recency_decay),
        "session_knn": SessionKNNRanker(idx, len(vocab), pop, pd.Timestamp(holdout.split)),
        "ease": EASERanker(idx, len(vocab), pop),
    }


def extra_components(vocab: list[str], item_category: np.ndarray, holdout: Holdout,
                     cfg: RecommenderConfig) -> dict[str, Ranker]:
    """The hybrid's heuristic signals besides the baselines: the user's own recent items
    (re-views and re-buys) and popular items of the user's recent categories."""
    pop = popularity_ranker(holdout.popularity, vocab)
    return {"recent": RecentRanker(len(vocab), pop, cfg.recency_decay),
            "category_popularity": CategoryPopularityRanker(item_category, pop, cfg.recency_decay)}


def policy_ranker(strategy: str, model: SASRec | None, vocab: list[str], cfg: RecommenderConfig,
                  fusion: dict[str, float], inter: pd.DataFrame, at: datetime,
                  device: torch.device) -> Ranker:
    """The ranker a version serves at ``at``: ``model`` (the hybrid: SASRec + neighbourhood
    components with the version's fusion weights) or one baseline by name. Neighbourhood
    components are rebuilt from ``inter`` before ``at`` over the version's vocabulary,
    so a served kNN list uses the freshest co-occurrences, exactly as in evaluation."""
    holdout = make_holdout(inter, at, at, cfg)
    needs = set(fusion) if strategy == "model" else {strategy}
    base = build_baselines(inter, vocab, holdout, cfg) if needs - {"sasrec"} else {}
    if strategy != "model":
        if strategy not in base:
            raise ValueError(f"unknown recommender strategy {strategy!r}")
        return base[strategy]
    comps: dict[str, Ranker] = {k: v for k, v in base.items() if k in needs}
    if needs & {"recent", "category_popularity"}:
        category = model.item_category.cpu().numpy() if model is not None else np.zeros(len(vocab) + 1, np.int64)
        comps.update({k: v for k, v in extra_components(vocab, category, holdout, cfg).items() if k in needs})
    if "sasrec" in needs:
        if model is None:
            raise ValueError("strategy 'model' needs the SASRec network")
        comps["sasrec"] = SASRecRanker(model, device)
    return HybridRanker(comps, fusion)


@dataclass(frozen=True)
class SplitPlan:
    """Where the holdout starts and why: windows follow the data's span, not fixed days."""

    split: datetime
    holdout_days: int
    span_days: float
    first: datetime

    @property
    def protocol(self) -> str:
        return (f"daily batch: history before D 00:00 -> distinct items of day D; data "
                f"{self.first:%Y-%m-%d %H:%M}..{self.split + timedelta(days=self.holdout_days):%Y-%m-%d} "
                f"({self.span_days:.1f} days); holdout = last {self.holdout_days} day(s) "
                f"(min(holdout_days, holdout_fraction x span)); fusion weights on the "
                f"{self.holdout_days} day(s) before it")


def plan_split(inter: pd.DataFrame, end: datetime, cfg: RecommenderConfig) -> SplitPlan:
    """Holdout length from the data's span: ``min(holdout_days, floor(holdout_fraction x
    span))`` days, at least 1. A fixed 7-day holdout on a 9-day clickstream left two days
    to train on and the model collapsed (issue 14)."""
    first = pd.Timestamp(inter["ts"].min()).to_pydatetime(warn=False) if len(inter) else end
    # Days covered (from the first event's 00:00), so 30 days of events count as 30, not 29.99.
    span = max((end - pd.Timestamp(first).floor("D").to_pydatetime()) / timedelta(days=1), 0.0)
    days = int(min(cfg.holdout_days, max(1, int(span * cfg.holdout_fraction))))
    return SplitPlan(end - timedelta(days=days), days, span, first)


# -------------------------------------------------------------- training ----
@dataclass
class Fitted:
    model: SASRec
    vocab: list[str]
    side: ItemSide
    metrics: dict[str, float]  # the learned recommender (hybrid) on the holdout
    baselines: dict[str, dict[str, float]]
    holdout: Holdout
    loss_history: list[float]
    fusion: dict[str, float]
    sasrec_metrics: dict[str, float]  # SASRec alone, for the record

    @property
    def strategy(self) -> str:
        """What registering this fit serves: ``model``, or the baseline the registry's rule
        (``recipe.winning_baseline``) picks because it beats the model on the main metric."""
        winner = winning_baseline(self.metrics, self.baselines, servable_baselines(self.baselines),
                                  MAIN_METRIC, higher_is_better=True)
        return "model" if winner is None else winner.name


def servable_baselines(baselines: dict[str, dict[str, float]]) -> list[ServableBaseline]:
    """Every baseline ``policy_ranker`` can rebuild at scoring time (they need no fitted
    state: the neighbourhoods are recomputed from the interactions before the list's date)."""
    return [ServableBaseline(name) for name in BASELINES if name in baselines]


def training_budget(chunks: TrainChunks, cfg: RecommenderConfig) -> tuple[np.ndarray, int]:
    """(chunk rows to train on, epochs) within ``cfg.max_train_examples`` position updates.

    Small data trains ``cfg.epochs`` passes; when that exceeds the budget, fewer passes
    over everything; when even one pass does, a single pass over a seeded sample of
    chunks. Tried first: many epochs over a fixed sample, which overfit on the M shop
    (HR@10 fell from 0.065 to 0.058 as epochs went from 2 to 6); fresh data beats
    repeated passes for the same CPU time.
    """
    rows = np.arange(len(chunks.items))
    n_pos = max(chunks.n_positions, 1)
    if n_pos * cfg.epochs <= cfg.max_train_examples:
        return rows, cfg.epochs
    if n_pos <= cfg.max_train_examples:
        return rows, max(1, cfg.max_train_examples // n_pos)
    n_chunks = max(1, int(len(rows) * cfg.max_train_examples / n_pos))
    keep = np.sort(np.random.default_rng(cfg.seed).choice(len(rows), n_chunks, replace=False))
    log.info("recommender: one pass over a seeded sample of %d of %d sequence chunks", n_chunks, len(rows))
    return keep, 1


def fit_model(train: pd.DataFrame, vocab: list[str], side: ItemSide, cfg: RecommenderConfig,
              device: torch.device) -> tuple[SASRec, list[float]]:
    """Train SASRec on next-day (and next-item) targets of interactions in ``train``."""
    setup_torch(cfg)
    chunks = build_train_chunks(train, vocab, cfg.max_history)
    if chunks.n_positions == 0:
        raise ValueError("no training examples (no user had two known interactions before the split)")
    keep, epochs = training_budget(chunks, cfg)
    model = SASRec(len(vocab), side.n_categories, cfg)
    model.set_side(side)
    tensors = {"items": torch.as_tensor(chunks.items[keep]), "targets": torch.as_tensor(chunks.targets[keep]),
               "weights": torch.as_tensor(chunks.weights[keep])}
    if chunks.next_items is not None:
        tensors["next_items"] = torch.as_tensor(chunks.next_items[keep])
    history = fit(model, tensors, make_loss(cfg, len(vocab)), dataclasses.replace(cfg, epochs=epochs), device)
    return model, history


def make_vocab(train: pd.DataFrame, cfg: RecommenderConfig) -> list[str]:
    """Items known to the model: those in ``train``, capped at the ``max_vocab`` most
    interacted (ties by id). Items outside it are sure misses for *every* policy, since
    all share this vocabulary; the cap bounds memory on catalogues of millions."""
    counts = train["item_id"].value_counts()
    if len(counts) > cfg.max_vocab:
        ranked = sorted(counts.index, key=lambda i: (-counts[i], i))[: cfg.max_vocab]
        log.info("recommender: vocabulary capped at %d of %d items", cfg.max_vocab, len(counts))
        return sorted(ranked)
    return sorted(counts.index.tolist())


def fit_fusion_weights(inter: pd.DataFrame, split: datetime, days: int, vocab: list[str], side: ItemSide,
                       cfg: RecommenderConfig, device: torch.device) -> dict[str, float]:
    """Fusion weights learned on ``[split - days, split)`` from components trained before it
    (SASRec included, retrained on that shorter history). Falls back to all components
    at weight 1 when the validation window has no history before it."""
    val_split = split - timedelta(days=days)
    before = inter[inter["ts"] < split]
    early = before[before["ts"] < val_split]
    if early.empty or not (before["ts"] >= val_split).any():
        return {"sasrec": 1.0}
    holdout = make_holdout(before, val_split, split, cfg)
    comps: dict[str, Ranker] = dict(build_baselines(early, vocab, holdout, cfg))
    comps.update(extra_components(vocab, side.category, holdout, cfg))
    if cfg.fusion_sasrec:
        try:
            early_model, _ = fit_model(early, vocab, side, cfg, device)
            comps["sasrec"] = SASRecRanker(early_model, device)
        except ValueError:
            log.info("recommender: no SASRec examples before the validation window; fusing baselines only")
    queries = build_queries(before, vocab, cfg.max_history, val_split, split, cfg.max_eval_targets, cfg.seed + 1)
    return fit_fusion(comps, queries, len(vocab), seed=cfg.seed)


def fit_and_evaluate(inter: pd.DataFrame, split: datetime, end: datetime, cfg: RecommenderConfig,
                     device: torch.device, products: pd.DataFrame | None = None,
                     fusion_days: int | None = None) -> Fitted:
    """Train on interactions before ``split``; evaluate model and baselines on ``[split, end)``.

    The learned recommender is the hybrid (``HybridRanker``); its fusion weights come
    from a validation window of ``fusion_days`` (default: the holdout's length) just
    before the split, so nothing of the holdout is used to fit anything.
    """
    train = inter[inter["ts"] < split]
    vocab = make_vocab(train, cfg)
    side = item_side_features(vocab, products if products is not None else pd.DataFrame(), cfg)
    days = fusion_days or max(1, round((end - split) / timedelta(days=1)))
    fusion = fit_fusion_weights(inter, split, days, vocab, side, cfg, device) if cfg.fusion else {"sasrec": 1.0}
    model, history = fit_model(train, vocab, side, cfg, device)
    holdout = make_holdout(inter, split, end, cfg)
    baselines = build_baselines(train, vocab, holdout, cfg)
    sasrec = SASRecRanker(model, device)
    extra = extra_components(vocab, side.category, holdout, cfg)
    hybrid = HybridRanker({"sasrec": sasrec, **extra, **baselines}, fusion)
    rankers: dict[str, Ranker] = {"model": hybrid, "sasrec": sasrec, **extra, **baselines}
    results = evaluate(rankers, vocab, cfg.max_history, holdout, cfg)
    metrics, sasrec_metrics = results.pop("model"), results.pop("sasrec")
    for name in extra:
        log.info("recommender: component %s alone: %s", name, results.pop(name))
    log.info("recommender: model %s (SASRec alone %s); baselines %s", metrics, sasrec_metrics, results)
    return Fitted(model, vocab, side, metrics, results, holdout, history, fusion, sasrec_metrics)


def load_model(art: Artefact, device: torch.device) -> tuple[SASRec, list[str], RecommenderConfig]:
    """Rebuild the network (weights + side-feature buffers) and vocabulary from an artefact."""
    cfg = config_from_dict(RecommenderConfig, art.config)
    vocab = list(art.preprocessing["vocab"])
    model = SASRec(len(vocab), int(art.preprocessing["n_categories"]), cfg)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), vocab, cfg


def served_policy(art: Artefact) -> tuple[str, dict[str, float]]:
    """(strategy, fusion weights) an artefact serves. Artefacts from before the hybrid
    (no ``strategy`` recorded) served SASRec alone."""
    pre = art.preprocessing
    generic = str(pre.get("serving_strategy", ""))  # the registry's generic mechanism (recipe.py)
    if generic.startswith("baseline:"):
        return generic.split(":", 1)[1], dict(pre.get("fusion", {"sasrec": 1.0}))
    return str(pre.get("strategy", "model")), dict(pre.get("fusion", {"sasrec": 1.0}))


def recommend(model: SASRec | Ranker, vocab: list[str], cfg: RecommenderConfig, inter: pd.DataFrame,
              users: list[str], at: datetime, fallbacks: dict[str, pd.Series], device: torch.device, k: int,
              user_fallback: dict[str, str] | None = None, batch_size: int = 2048,
              strategy: str = "model") -> pd.DataFrame:
    """Top-k items per user for lists served from ``at``.

    Users with known history get ``model`` (a SASRec network, or any ``Ranker``:
    the hybrid or a baseline; minus their history when ``cfg.exclude_seen``), under
    the ``strategy`` label; the others get a popularity list: ``fallbacks`` maps a
    list key (``popularity``, ``segment_popularity:<segment>``...) to an item -> mass
    Series, ``user_fallback`` a user to their list key (default ``popularity``, which
    must be in ``fallbacks``; an unknown key also falls back to it).
    Returns user_id, item_id, rank (1 = best), score, strategy. Fallback scores are
    the item's share of the list's mass.
    """
    user_fallback = user_fallback or {}
    ctx = user_contexts(inter, vocab, users, cfg.max_history, at)
    warm = ctx.has_history
    rows: list[dict[str, Any]] = []
    warm_users = [u for u, w in zip(users, warm, strict=True) if w]
    wctx = ctx.take(warm)
    ranker: Ranker = SASRecRanker(model, device) if isinstance(model, SASRec) else model
    no_fallback = PopularityRanker(np.zeros(len(vocab) + 1))
    batch_size = min(batch_size, eval_batch_size(len(vocab)))
    for start in range(0, len(warm_users), batch_size):  # batches: a (users x catalogue) matrix is GBs on M
        part = wctx.take(slice(start, start + batch_size))
        scores = policy_scores(ranker, part, no_fallback, cfg.exclude_seen)
        top = top_k_items(scores, k)
        for user, idxs, s in zip(warm_users[start:start + batch_size], top, scores, strict=True):
            for r, i in enumerate(idxs[np.isfinite(s[idxs])], start=1):
                rows.append({"user_id": user, "item_id": vocab[i - 1], "rank": r, "score": float(s[i]),
                             "strategy": strategy})
    for user in (u for u, w in zip(users, warm, strict=True) if not w):
        key = user_fallback.get(user, "popularity")
        if key not in fallbacks or fallbacks[key].empty:
            key = "popularity"
        pop = fallbacks[key]
        share = pop / pop.sum() if len(pop) else pop
        for r, (item, s) in enumerate(share.iloc[:k].items(), start=1):
            rows.append({"user_id": user, "item_id": item, "rank": r, "score": float(s), "strategy": key})
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score", "strategy"])


def train(as_of_date: date, run_id: str, cfg: RecommenderConfig | None = None) -> TrainResult:
    """Recipe: window -> interactions -> adaptive split -> fit on pre-holdout -> evaluate the
    hybrid and every baseline -> serve the better of (model, best baseline) -> register.

    Every baseline is a servable candidate (``servable_baselines``): when one beats the
    learned model on the holdout, ``save_and_register`` registers it as its own version and
    that version faces the champion, so a learned model that loses to item-kNN is never
    served.
    """
    cfg = cfg or RecommenderConfig()
    device = pick_device()
    end = as_of_instant(as_of_date)
    window = DataWindow(end - timedelta(days=cfg.lookback_days), end)
    events, lines = read_interactions(window.start, window.end)
    inter = interactions_from_frames(events, lines, cfg)
    plan = plan_split(inter, end, cfg)
    split = plan.split
    n_train, n_hold = int((inter["ts"] < split).sum()), int((inter["ts"] >= split).sum())
    log.info("recommender: %d interactions before the split, %d in the holdout (%s; %s)", n_train, n_hold,
             window, plan.protocol)
    if n_train == 0 or n_hold == 0:
        return TrainResult.skipped(MODEL_NAME, f"{n_train} training / {n_hold} holdout interactions", window)
    # Attributes as known at the split: the holdout must not see item features from its own days.
    products = read_item_attributes(split.date())
    try:
        fitted = fit_and_evaluate(inter, split, end, cfg, device, products, fusion_days=plan.holdout_days)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)
    def evaluate_champion(art: Artefact) -> dict[str, float]:
        # Same targets, fallback list and exclusion; the champion's own policy, vocabulary and
        # history length, its neighbourhood components rebuilt on the new training data.
        champ, vocab, champ_cfg = load_model(art, device)
        champ_strategy, champ_fusion = served_policy(art)
        champ_inter = interactions_from_frames(events, lines, champ_cfg)
        ranker = policy_ranker(champ_strategy, champ, vocab, champ_cfg, champ_fusion,
                               champ_inter[champ_inter["ts"] < split], split, device)
        champ_holdout = Holdout(champ_inter, split, end, fitted.holdout.popularity)
        return evaluate({"model": ranker}, vocab, champ_cfg.max_history, champ_holdout, cfg)["model"]

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model,
        preprocessing={"vocab": fitted.vocab, **fitted.side.to_dict(), "strategy": "model",
                       "fusion": fitted.fusion,
                       "features": ["item_history", "category", "price_band", "title_description_hashed"]},
        metrics=fitted.metrics, baselines=fitted.baselines, servable=servable_baselines(fitted.baselines),
        main_metric=MAIN_METRIC, higher_is_better=True, evaluate_champion=evaluate_champion,
        training_inputs={"events": events, "order_lines": lines, "products": products},
        extra_metrics={"loss_history": fitted.loss_history, "split": split.isoformat(),
                       "holdout_days": plan.holdout_days, "span_days": plan.span_days,
                       "fusion": fitted.fusion, "sasrec_metrics": fitted.sasrec_metrics,
                       "protocol": plan.protocol},
    )
