"""Next-day recommender: a small SASRec-style transformer over each user's recent items.

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
   list for day D is computed from interactions before D 00:00. For every user
   and every day D in ``[as_of - holdout_days, as_of)`` with interactions, the
   query is the user's history before D and the targets are the distinct items
   the user interacted with on D. Items first seen in the holdout are sure
   misses for every policy; users without history get popularity (the serving
   fallback) under every policy. Training uses interactions before the split.
3. Model: item vector = id embedding + category + price band + hashed
   bag-of-words of title/description (so rarely seen items borrow from similar
   ones); 1-2 pre-norm causal self-attention blocks over the last
   ``max_history`` items; score = last hidden state . item vector + item bias.
   Training: every position predicts an item of the user's *next active day*
   (the same next-day task the holdout asks), weighted by its event type;
   softmax over the full catalogue or, when ``n_negatives`` > 0 and the
   catalogue is larger, over the target plus shared uniform negatives.
4. Baselines on the same queries/targets (``tasks/train/ranking_baselines.py``):
   popularity, item-kNN (co-occurrence) and recency-aware session kNN.
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
    Contexts,
    ItemKNNRanker,
    PopularityRanker,
    Queries,
    Ranker,
    SessionKNNRanker,
    evaluate_rankers,
    policy_scores,
    top_k_items,
)
from tasks.train.recipe import save_and_register
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

MODEL_NAME = "recommender"
MAIN_METRIC = "hr_at_10"
BASELINES = ("popularity", "item_knn", "session_knn")
TOKEN_RE = re.compile(r"[a-z]{2,}")


@dataclass(frozen=True)
class RecommenderConfig(TrainConfig):
    """Settings of the recommender recipe (defaults fit S/M synthetic and UCI data on CPU)."""

    epochs: int = 8
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    lookback_days: int = 90
    holdout_days: int = 7
    popularity_days: int = 30
    max_history: int = 30
    embedding_dim: int = 48
    n_blocks: int = 1
    n_heads: int = 2
    dropout: float = 0.5  # sparse baskets overfit: UCI HR@10 0.070 -> 0.077 vs 0.2; S -0.007, M same
    text_buckets: int = 2048
    max_tokens: int = 12
    n_price_bands: int = 8
    # 0 = full softmax; else the target competes with this many shared uniform negatives.
    n_negatives: int = 0
    view_weight: float = 1.0
    cart_weight: float = 3.0
    purchase_weight: float = 5.0
    recency_decay: float = 0.8  # item-kNN baseline: weight of an item k steps back = decay ** k
    exclude_seen: bool = False
    top_k: int = 10
    max_eval_targets: int = 20_000
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
        if self.n_negatives < 0:
            raise ValueError("n_negatives must be >= 0")
        if min(self.view_weight, self.cart_weight, self.purchase_weight) <= 0:
            raise ValueError("event weights must be > 0")
        if not 0 < self.recency_decay <= 1:
            raise ValueError("recency_decay must be in (0, 1]")
        if self.max_eval_targets < 1 or self.max_train_examples < 1:
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

    @property
    def n_positions(self) -> int:
        return int((self.targets > 0).sum())


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
    # Rows are in user order, newest window first; windows without any target are dropped.
    keep = out_t.any(axis=1)
    return TrainChunks(out_i[keep], out_t[keep], out_w[keep])


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

    def repeat_bonus(self, seq: torch.Tensor, h: torch.Tensor, rows: torch.Tensor, n_cols: int) -> torch.Tensor:
        """(P, V+1) bonus, for the P positions where ``rows`` (B, L) is True, of the items
        each has already seen (itself and earlier): softplus(step weight) x softplus(gate)."""
        n = seq.shape[1]
        steps = torch.arange(n, device=seq.device)
        back = steps[:, None] - steps[None, :]  # (t, s): how many steps s is before t
        per_step = F.softplus(self.repeat_steps)[back.clamp(0, len(self.repeat_steps) - 1)]
        per_step = torch.where(back >= 0, per_step, torch.zeros_like(per_step))  # (t, s)
        b_idx, t_idx = rows.nonzero(as_tuple=True)
        ctx = seq[b_idx]  # (P, L)
        vals = per_step[t_idx] * (ctx > 0) * F.softplus(self.repeat_gate(h[b_idx, t_idx]))
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
    """Weighted softmax cross-entropy at every position with a target.

    Full softmax over the catalogue, or (``n_negatives`` > 0 and a larger
    catalogue) the target against shared uniform negatives drawn from a seeded
    generator; negatives equal to the target are masked out.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    sampled = 0 < cfg.n_negatives < n_items

    def loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        items = model.item_vectors()
        h_all = model.hidden(batch["items"], items)
        keep = batch["targets"] > 0
        bonus = model.repeat_bonus(batch["items"], h_all, keep, len(items))  # rows in keep's order
        h, t, w = h_all[keep], batch["targets"][keep], batch["weights"][keep]
        if sampled:
            neg = torch.randint(1, n_items + 1, (cfg.n_negatives,), generator=gen).to(h.device)
            pos_logit = (h * items[t]).sum(-1) + model.bias[t] + bonus.gather(1, t[:, None])[:, 0]
            neg_logit = h @ items[neg].T + model.bias[neg] + bonus[:, neg]
            neg_logit = neg_logit.masked_fill(neg[None, :] == t[:, None], float("-inf"))
            logits = torch.cat([pos_logit[:, None], neg_logit], dim=1).float()
            per = F.cross_entropy(logits, torch.zeros_like(t), reduction="none")
        else:
            logits = (h @ items.T + model.bias + bonus).float()
            logits[:, 0] = float("-inf")
            per = F.cross_entropy(logits, t, reduction="none")
        return (per * w).sum() / w.sum()

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


def evaluate(rankers: dict[str, Ranker], vocab: list[str], max_history: int, holdout: Holdout,
             eval_cfg: RecommenderConfig) -> dict[str, dict[str, float]]:
    """Metrics of each ranker on the holdout queries (fixed by ``eval_cfg``: k, target
    sample, exclusion), with the popularity list as every policy's cold-start fallback."""
    queries = build_queries(holdout.inter, vocab, max_history, holdout.split, holdout.end,
                            eval_cfg.max_eval_targets, eval_cfg.seed)
    fallback = popularity_ranker(holdout.popularity, vocab)
    return evaluate_rankers(rankers, queries, fallback, len(vocab), exclude_seen=eval_cfg.exclude_seen,
                            k=eval_cfg.top_k)


def build_baselines(train: pd.DataFrame, vocab: list[str], holdout: Holdout,
                    cfg: RecommenderConfig) -> dict[str, Ranker]:
    idx = with_index(train, vocab)
    pop = popularity_ranker(holdout.popularity, vocab)
    return {
        "popularity": pop,
        "item_knn": ItemKNNRanker(idx, len(vocab), pop, decay=cfg.recency_decay),
        "session_knn": SessionKNNRanker(idx, len(vocab), pop, pd.Timestamp(holdout.split)),
    }


# -------------------------------------------------------------- training ----
@dataclass
class Fitted:
    model: SASRec
    vocab: list[str]
    side: ItemSide
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout: Holdout
    loss_history: list[float]


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
    """Train SASRec on next-day targets of interactions in ``train``."""
    setup_torch(cfg)
    chunks = build_train_chunks(train, vocab, cfg.max_history)
    if chunks.n_positions == 0:
        raise ValueError("no training examples (no user was active on two days before the split)")
    keep, epochs = training_budget(chunks, cfg)
    model = SASRec(len(vocab), side.n_categories, cfg)
    model.set_side(side)
    tensors = {"items": torch.as_tensor(chunks.items[keep]), "targets": torch.as_tensor(chunks.targets[keep]),
               "weights": torch.as_tensor(chunks.weights[keep])}
    history = fit(model, tensors, make_loss(cfg, len(vocab)), dataclasses.replace(cfg, epochs=epochs), device)
    return model, history


def fit_and_evaluate(inter: pd.DataFrame, split: datetime, end: datetime, cfg: RecommenderConfig,
                     device: torch.device, products: pd.DataFrame | None = None) -> Fitted:
    """Train on interactions before ``split``; evaluate model and baselines on ``[split, end)``."""
    train = inter[inter["ts"] < split]
    vocab = sorted(train["item_id"].unique().tolist())
    side = item_side_features(vocab, products if products is not None else pd.DataFrame(), cfg)
    model, history = fit_model(train, vocab, side, cfg, device)
    holdout = make_holdout(inter, split, end, cfg)
    rankers: dict[str, Ranker] = {"model": SASRecRanker(model, device), **build_baselines(train, vocab, holdout, cfg)}
    results = evaluate(rankers, vocab, cfg.max_history, holdout, cfg)
    metrics = results.pop("model")
    log.info("recommender: model %s; baselines %s", metrics, results)
    return Fitted(model, vocab, side, metrics, results, holdout, history)


def load_model(art: Artefact, device: torch.device) -> tuple[SASRec, list[str], RecommenderConfig]:
    """Rebuild the network (weights + side-feature buffers) and vocabulary from an artefact."""
    cfg = config_from_dict(RecommenderConfig, art.config)
    vocab = list(art.preprocessing["vocab"])
    model = SASRec(len(vocab), int(art.preprocessing["n_categories"]), cfg)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), vocab, cfg


def recommend(model: SASRec, vocab: list[str], cfg: RecommenderConfig, inter: pd.DataFrame, users: list[str],
              at: datetime, fallbacks: dict[str, pd.Series], device: torch.device, k: int,
              user_fallback: dict[str, str] | None = None, batch_size: int = 2048) -> pd.DataFrame:
    """Top-k items per user for lists served from ``at``.

    Users with known history get the model (minus their history when
    ``cfg.exclude_seen``); the others get a popularity list: ``fallbacks`` maps a
    list key (``popularity``, ``segment_popularity:<segment>``...) to an item -> mass
    Series, ``user_fallback`` a user to their list key (default ``popularity``, which
    must be in ``fallbacks``; an unknown key also falls back to it).
    Returns user_id, item_id, rank (1 = best), score, strategy (``model`` or the
    list key). Fallback scores are the item's share of the list's mass.
    """
    user_fallback = user_fallback or {}
    ctx = user_contexts(inter, vocab, users, cfg.max_history, at)
    warm = ctx.has_history
    rows: list[dict[str, Any]] = []
    warm_users = [u for u, w in zip(users, warm, strict=True) if w]
    wctx = ctx.take(warm)
    ranker, no_fallback = SASRecRanker(model, device), PopularityRanker(np.zeros(len(vocab) + 1))
    for start in range(0, len(warm_users), batch_size):  # batches: a (users x catalogue) matrix is GBs on M
        part = wctx.take(slice(start, start + batch_size))
        scores = policy_scores(ranker, part, no_fallback, cfg.exclude_seen)
        top = top_k_items(scores, k)
        for user, idxs, s in zip(warm_users[start:start + batch_size], top, scores, strict=True):
            for r, i in enumerate(idxs[np.isfinite(s[idxs])], start=1):
                rows.append({"user_id": user, "item_id": vocab[i - 1], "rank": r, "score": float(s[i]),
                             "strategy": "model"})
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
    """Recipe: window -> interactions -> fit on pre-holdout -> evaluate vs baselines -> register."""
    cfg = cfg or RecommenderConfig()
    device = pick_device()
    end = as_of_instant(as_of_date)
    window = DataWindow(end - timedelta(days=cfg.lookback_days), end)
    split = end - timedelta(days=cfg.holdout_days)
    events, lines = read_interactions(window.start, window.end)
    inter = interactions_from_frames(events, lines, cfg)
    n_train, n_hold = int((inter["ts"] < split).sum()), int((inter["ts"] >= split).sum())
    log.info("recommender: %d interactions before the split, %d in the holdout (%s)", n_train, n_hold, window)
    if n_train == 0 or n_hold == 0:
        return TrainResult.skipped(MODEL_NAME, f"{n_train} training / {n_hold} holdout interactions", window)
    # Attributes as known at the split: the holdout must not see item features from its own days.
    products = read_item_attributes(split.date())
    try:
        fitted = fit_and_evaluate(inter, split, end, cfg, device, products)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        # Same targets, fallback list and exclusion; histories as long as the champion reads.
        champ, vocab, champ_cfg = load_model(art, device)
        champ_holdout = Holdout(interactions_from_frames(events, lines, champ_cfg), split, end,
                                fitted.holdout.popularity)
        return evaluate({"model": SASRecRanker(champ, device)}, vocab, champ_cfg.max_history, champ_holdout,
                        cfg)["model"]

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model,
        preprocessing={"vocab": fitted.vocab, **fitted.side.to_dict(),
                       "features": ["item_history", "category", "price_band", "title_description_hashed"]},
        metrics=fitted.metrics, baselines=fitted.baselines,
        main_metric=MAIN_METRIC, higher_is_better=True, evaluate_champion=evaluate_champion,
        extra_metrics={"loss_history": fitted.loss_history, "split": split.isoformat(),
                       "protocol": "daily batch: history before D 00:00 -> distinct items of day D"},
    )
