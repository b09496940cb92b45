"""Next-item recommender: weighted, recency-decayed pooling of the last N items.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.recommender import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: product interactions in ``[as_of - lookback_days, as_of)`` from
   ``marts.fct_events`` (view/cart/purchase) and ``marts.fct_order_lines``.
   Order lines are used as purchases only when the window has no purchase
   events (sources with a clickstream log purchases there already; UCI has only
   order lines), so a purchase is never counted twice.
2. Holdout: time-based. Train on interactions before ``as_of - holdout_days``;
   every interaction inside the holdout is a next-item target, predicted from
   the user's interactions before it (as serving would see them).
3. Model: user vector = weighted mean of the embeddings of the last
   ``max_history`` items (weight = event-type weight x recency_decay^age), passed
   through a residual linear map; scores = dot products with every item
   embedding + item bias; full softmax cross-entropy on the next item, weighted
   by the target's event-type weight (a purchase teaches more than a view).
4. Baseline: popularity (event-weighted counts in the ``popularity_days`` before
   the split). Users with no known history get the same popularity list from the
   model too, so the comparison is between whole serving policies.
5. Metrics: HR@10 (main) and NDCG@10.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

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
from tasks.train.data import read_interactions
from tasks.train.metrics import hit_rate_at_k, ndcg_at_k
from tasks.train.recipe import save_and_register

log = logging.getLogger(__name__)

MODEL_NAME = "recommender"
MAIN_METRIC = "hr_at_10"
BASELINE = "popularity"


@dataclass(frozen=True)
class RecommenderConfig(TrainConfig):
    """Settings of the recommender recipe (defaults fit the S/M synthetic data)."""

    epochs: int = 15
    batch_size: int = 512
    lr: float = 1e-2
    lookback_days: int = 90
    holdout_days: int = 7
    popularity_days: int = 30
    max_history: int = 20
    embedding_dim: int = 32
    view_weight: float = 1.0
    cart_weight: float = 3.0
    purchase_weight: float = 5.0
    recency_decay: float = 0.9
    top_k: int = 10
    max_eval_targets: int = 20_000
    # Caps CPU training cost on large shops (M: ~2.4M examples): a seeded random sample of
    # (context -> next item) examples; the model sees every item's context either way.
    max_train_examples: int = 200_000

    def validate(self) -> None:
        super().validate()
        if self.holdout_days < 1 or self.lookback_days <= self.holdout_days:
            raise ValueError("need lookback_days > holdout_days >= 1")
        if self.popularity_days < 1 or self.max_history < 1 or self.embedding_dim < 1 or self.top_k < 1:
            raise ValueError("popularity_days, max_history, embedding_dim and top_k must be >= 1")
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


@dataclass
class Examples:
    """Fixed-width contexts (right-aligned, 0 = padding) and their next-item targets."""

    ctx_items: np.ndarray  # (n, N) int64 item index, 0 = pad
    ctx_weights: np.ndarray  # (n, N) float32
    targets: np.ndarray  # (n,) int64 item index, -1 = unknown item
    target_weights: np.ndarray  # (n,) float32
    target_items: list[str]  # raw item ids (for baselines)
    users: list[str]

    def __len__(self) -> int:
        return len(self.targets)


def _context(known: list[tuple[int, float]], cfg: RecommenderConfig) -> tuple[np.ndarray, np.ndarray]:
    items = np.zeros(cfg.max_history, dtype=np.int64)
    weights = np.zeros(cfg.max_history, dtype=np.float32)
    tail = known[-cfg.max_history:]
    for j, (idx, w) in enumerate(tail):
        age = len(tail) - 1 - j
        items[cfg.max_history - len(tail) + j] = idx
        weights[cfg.max_history - len(tail) + j] = w * cfg.recency_decay**age
    return items, weights


def build_examples(inter: pd.DataFrame, item_index: dict[str, int], cfg: RecommenderConfig,
                   targets_from: datetime | None = None, targets_to: datetime | None = None,
                   training: bool = True) -> Examples:
    """Turn each user's sequence into (context -> next item) examples.

    Targets are interactions with ts in ``[targets_from, targets_to)``; the context
    is every earlier interaction with a known item. Training examples need a
    known target and a non-empty context; evaluation keeps unknown targets (a
    sure miss) and empty contexts (served by the popularity fallback).
    """
    ctx_i, ctx_w, tgt, tgt_w, tgt_items, users = [], [], [], [], [], []
    for user, g in inter.groupby("user_id", sort=True):
        known: list[tuple[int, float]] = []
        for item, ts, w in zip(g["item_id"], g["ts"], g["weight"], strict=True):
            idx = item_index.get(item, -1)
            in_range = (targets_from is None or ts >= targets_from) and (targets_to is None or ts < targets_to)
            if in_range and (not training or (known and idx > 0)):
                items, weights = _context(known, cfg)
                ctx_i.append(items)
                ctx_w.append(weights)
                tgt.append(idx)
                tgt_w.append(w)
                tgt_items.append(item)
                users.append(user)
            if idx > 0:
                known.append((idx, float(w)))
    n = len(tgt)
    return Examples(
        ctx_items=np.array(ctx_i, dtype=np.int64).reshape(n, cfg.max_history),
        ctx_weights=np.array(ctx_w, dtype=np.float32).reshape(n, cfg.max_history),
        targets=np.array(tgt, dtype=np.int64), target_weights=np.array(tgt_w, dtype=np.float32),
        target_items=tgt_items, users=users,
    )


# ----------------------------------------------------------------- model ----
class SequenceRecommender(nn.Module):
    """Weighted-pooled history embedding -> dot-product scores over every item.

    Index 0 is padding and never recommended.
    """

    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.mix = nn.Linear(dim, dim, bias=False)
        self.bias = nn.Parameter(torch.zeros(n_items + 1))
        nn.init.normal_(self.items.weight, std=0.1)
        nn.init.zeros_(self.mix.weight)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def user_vectors(self, ctx_items: torch.Tensor, ctx_weights: torch.Tensor) -> torch.Tensor:
        emb = self.items(ctx_items)  # (n, N, d)
        denom = ctx_weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
        pooled = (emb * ctx_weights.unsqueeze(-1)).sum(dim=1) / denom
        return pooled + self.mix(pooled)

    def forward(self, ctx_items: torch.Tensor, ctx_weights: torch.Tensor) -> torch.Tensor:
        logits = self.user_vectors(ctx_items, ctx_weights) @ self.items.weight.T + self.bias
        logits = logits.float()
        logits[:, 0] = float("-inf")
        return logits


def _loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    logits = model(batch["ctx_items"], batch["ctx_weights"])
    per_example = nn.functional.cross_entropy(logits, batch["targets"], reduction="none")
    w = batch["target_weights"]
    return (per_example * w).sum() / w.sum()


@torch.no_grad()
def score_contexts(model: SequenceRecommender, ctx_items: np.ndarray, ctx_weights: np.ndarray,
                   device: torch.device, batch_size: int = 2048) -> np.ndarray:
    """Logits (n, n_items + 1) for many contexts, in batches to bound memory."""
    model.to(device).eval()
    out = []
    for s in range(0, len(ctx_items), batch_size):
        ci = torch.as_tensor(ctx_items[s:s + batch_size], device=device)
        cw = torch.as_tensor(ctx_weights[s:s + batch_size], device=device)
        out.append(model(ci, cw).float().cpu().numpy())
    n_cols = model.bias.shape[0]
    return np.concatenate(out) if out else np.zeros((0, n_cols), dtype=np.float32)


# ------------------------------------------------------------ evaluation ----
def popularity_ranks(target_items: list[str], pop: pd.Series) -> list[int | None]:
    """1-based rank of each target in the popularity list (None when not in it)."""
    position = {item: r for r, item in enumerate(pop.index, start=1)}
    return [position.get(item) for item in target_items]


def model_ranks(model: SequenceRecommender, ex: Examples, pop: pd.Series,
                device: torch.device) -> list[int | None]:
    """Rank of each target under the serving policy: the model where the user has known
    history, popularity otherwise. Rank = 1 + number of items scored strictly higher."""
    ranks: list[int | None] = popularity_ranks(ex.target_items, pop)
    has_ctx = ex.ctx_weights.sum(axis=1) > 0
    rows = np.flatnonzero(has_ctx)
    if len(rows):
        logits = score_contexts(model, ex.ctx_items[rows], ex.ctx_weights[rows], device)
        for row, scores in zip(rows, logits, strict=True):
            t = ex.targets[row]
            ranks[row] = None if t <= 0 else int((scores > scores[t]).sum()) + 1
    return ranks


def ranking_metrics(ranks: list[int | None], k: int) -> dict[str, float]:
    return {f"hr_at_{k}": hit_rate_at_k(ranks, k), f"ndcg_at_{k}": ndcg_at_k(ranks, k),
            "n_targets": float(len(ranks))}


@dataclass
class Holdout:
    """The evaluation set every model version (new, baseline, champion) is scored on."""

    inter: pd.DataFrame
    split: datetime
    end: datetime
    popularity: pd.Series


def make_holdout(inter: pd.DataFrame, split: datetime, end: datetime,
                 cfg: RecommenderConfig) -> Holdout:
    pop = popularity(inter, split - timedelta(days=cfg.popularity_days), split)
    return Holdout(inter=inter, split=split, end=end, popularity=pop)


def evaluate(model: SequenceRecommender, vocab: list[str], cfg: RecommenderConfig, holdout: Holdout,
             device: torch.device, eval_cfg: RecommenderConfig | None = None,
             ) -> tuple[dict[str, float], dict[str, float]]:
    """(model metrics, popularity metrics) on the holdout targets.

    ``cfg`` is the model's own config (how it builds contexts); ``eval_cfg`` (default
    ``cfg``) fixes k and the deterministic subsample of ``max_eval_targets`` targets,
    so a champion with another config is scored on exactly the same targets.
    """
    eval_cfg = eval_cfg or cfg
    index = {item: i for i, item in enumerate(vocab, start=1)}
    ex = build_examples(holdout.inter, index, cfg, holdout.split, holdout.end, training=False)
    if len(ex) > eval_cfg.max_eval_targets:
        rng = np.random.default_rng(eval_cfg.seed)
        keep = np.sort(rng.choice(len(ex), eval_cfg.max_eval_targets, replace=False))
        ex = Examples(ex.ctx_items[keep], ex.ctx_weights[keep], ex.targets[keep], ex.target_weights[keep],
                      [ex.target_items[i] for i in keep], [ex.users[i] for i in keep])
    k = eval_cfg.top_k
    return (ranking_metrics(model_ranks(model, ex, holdout.popularity, device), k),
            ranking_metrics(popularity_ranks(ex.target_items, holdout.popularity), k))


# -------------------------------------------------------------- training ----
@dataclass
class Fitted:
    model: SequenceRecommender
    vocab: list[str]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    holdout: Holdout
    loss_history: list[float]


def fit_and_evaluate(inter: pd.DataFrame, split: datetime, end: datetime, cfg: RecommenderConfig,
                     device: torch.device) -> Fitted:
    """Train on interactions before ``split``; evaluate on targets in ``[split, end)``."""
    setup_torch(cfg)
    train_inter = inter[inter["ts"] < split]
    vocab = sorted(train_inter["item_id"].unique().tolist())
    index = {item: i for i, item in enumerate(vocab, start=1)}
    ex = build_examples(train_inter, index, cfg, training=True)
    if len(ex) == 0:
        raise ValueError("no training examples (no user has two interactions before the split)")
    keep = np.arange(len(ex))
    if len(ex) > cfg.max_train_examples:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(ex), cfg.max_train_examples, replace=False))
        log.info("recommender: training on a seeded sample of %d of %d examples", len(keep), len(ex))
    model = SequenceRecommender(len(vocab), cfg.embedding_dim)
    tensors = {"ctx_items": torch.as_tensor(ex.ctx_items[keep]), "ctx_weights": torch.as_tensor(ex.ctx_weights[keep]),
               "targets": torch.as_tensor(ex.targets[keep]),
               "target_weights": torch.as_tensor(ex.target_weights[keep])}
    history = fit(model, tensors, _loss, cfg, device)
    holdout = make_holdout(inter, split, end, cfg)
    metrics, baseline = evaluate(model, vocab, cfg, holdout, device)
    return Fitted(model, vocab, metrics, baseline, holdout, history)


def load_model(art: Artefact, device: torch.device) -> tuple[SequenceRecommender, list[str], RecommenderConfig]:
    """Rebuild the network and its vocabulary from an artefact."""
    cfg = config_from_dict(RecommenderConfig, art.config)
    vocab = list(art.preprocessing["vocab"])
    model = SequenceRecommender(len(vocab), cfg.embedding_dim)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), vocab, cfg


def recommend(model: SequenceRecommender, vocab: list[str], cfg: RecommenderConfig, inter: pd.DataFrame,
              users: list[str], pop: pd.Series, device: torch.device, k: int) -> pd.DataFrame:
    """Top-k items per user: the model for users with known history, else popularity.

    Returns user_id, item_id, rank (1 = best), score, source ('model'|'popularity').
    Popularity scores are the item's share of the popularity mass.
    """
    index = {item: i for i, item in enumerate(vocab, start=1)}
    ctx_i, ctx_w, with_ctx = [], [], []
    by_user = {u: g for u, g in inter.groupby("user_id", sort=False)}
    fallback = []
    for user in users:
        g = by_user.get(user)
        known = [] if g is None else [
            (index[i], float(w)) for i, w in zip(g["item_id"], g["weight"], strict=True) if i in index
        ]
        if known:
            items, weights = _context(known, cfg)
            ctx_i.append(items)
            ctx_w.append(weights)
            with_ctx.append(user)
        else:
            fallback.append(user)
    rows: list[dict[str, Any]] = []
    if with_ctx:
        logits = score_contexts(model, np.stack(ctx_i), np.stack(ctx_w), device)
        k_eff = min(k, len(vocab))
        top = np.argsort(-logits, axis=1, kind="stable")[:, :k_eff]
        for user, idxs, scores in zip(with_ctx, top, logits, strict=True):
            for r, idx in enumerate(idxs, start=1):
                rows.append({"user_id": user, "item_id": vocab[idx - 1], "rank": r,
                             "score": float(scores[idx]), "source": "model"})
    if fallback and len(pop):
        share = pop / pop.sum()
        top_pop = share.iloc[:k]
        for user in fallback:
            for r, (item, s) in enumerate(top_pop.items(), start=1):
                rows.append({"user_id": user, "item_id": item, "rank": r, "score": float(s),
                             "source": "popularity"})
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score", "source"])


def train(as_of_date: date, run_id: str, cfg: RecommenderConfig | None = None) -> TrainResult:
    """Recipe: window -> interactions -> fit on pre-holdout -> evaluate vs popularity -> register."""
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
    try:
        fitted = fit_and_evaluate(inter, split, end, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        # Same targets and fallback list; contexts weighted the way the champion was trained.
        champ, vocab, champ_cfg = load_model(art, device)
        champ_holdout = Holdout(interactions_from_frames(events, lines, champ_cfg), split, end,
                                fitted.holdout.popularity)
        return evaluate(champ, vocab, champ_cfg, champ_holdout, device, eval_cfg=cfg)[0]

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing={"vocab": fitted.vocab, "features": ["item_history"]},
        metrics=fitted.metrics, baselines={BASELINE: fitted.baseline_metrics},
        main_metric=MAIN_METRIC, higher_is_better=True, evaluate_champion=evaluate_champion,
        extra_metrics={"loss_history": fitted.loss_history, "split": split.isoformat()},
    )
