"""Serving's vectorised top-k (issue 15) serves exactly the lists of the straightforward
implementation it replaced: numpy ``top_k_items`` per batch and one dict per output row.

The reference below is that implementation, kept verbatim in spirit, so any change in
users, items, ranks, tie order, seen-item exclusion or the cold-start fallbacks fails here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from tasks.train import recommender as rec
from tasks.train.ranking_baselines import Contexts, PopularityRanker, Ranker, policy_scores, top_k_items
from tasks.train.recommender.topk import top_k_sorted

AT = datetime(2024, 3, 1)
CPU = torch.device("cpu")
CFG = rec.RecommenderConfig(embedding_dim=16, max_history=12, n_heads=2)


def reference(model: rec.SASRec | Ranker, vocab: list[str], cfg: rec.RecommenderConfig, inter: pd.DataFrame,
              users: list[str], fallbacks: dict[str, pd.Series], k: int,
              user_fallback: dict[str, str] | None = None, batch_size: int = 7) -> pd.DataFrame:
    """recommend() before issue 15: float64 numpy scores of the full forward pass (every
    position through every block), top_k_items, a dict per row."""
    user_fallback = user_fallback or {}
    ctx = rec.user_contexts(inter, vocab, users, cfg.max_history, AT)
    warm = ctx.has_history
    rows: list[dict[str, Any]] = []
    warm_users = [u for u, w in zip(users, warm, strict=True) if w]
    wctx = ctx.take(warm)
    ranker = FullForward(model) if isinstance(model, rec.SASRec) else model
    no_fallback = PopularityRanker(np.zeros(len(vocab) + 1))
    for start in range(0, len(warm_users), batch_size):
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


def interactions(n_users: int, n_items: int, seed: int) -> pd.DataFrame:
    """Random histories of 1..15 events (repeats included) over the 10 days before AT, plus
    one user whose only item is unknown to the vocabulary (cold despite having events)."""
    rng = np.random.default_rng(seed)
    per_user = rng.integers(1, 16, n_users)
    n = int(per_user.sum())
    frame = pd.DataFrame({
        "user_id": np.repeat([f"u{i:03d}" for i in range(n_users)], per_user),
        "item_id": [f"p{i:03d}" for i in rng.integers(0, n_items, n)],
        "ts": pd.Timestamp(AT - timedelta(days=10)) + pd.to_timedelta(rng.integers(0, 10 * 86400, n), unit="s"),
        "weight": rng.choice([1.0, 3.0, 5.0], n),
    })
    unknown = pd.DataFrame({"user_id": ["u-unknown"], "item_id": ["zzz"], "ts": [pd.Timestamp(AT - timedelta(days=1))],
                            "weight": [1.0]})
    return pd.concat([frame, unknown]).sort_values(["user_id", "ts"], kind="stable").reset_index(drop=True)


class FullForward:
    """SASRec's scores as ``forward`` computed them before issue 15: hidden states of
    every position, then the last one's scores (serving now runs the final block's
    projection and feed-forward for the last position only)."""

    def __init__(self, model: rec.SASRec) -> None:
        self.model = model

    @torch.no_grad()
    def scores(self, ctx: Contexts) -> np.ndarray:
        m = self.model
        seq = torch.as_tensor(ctx.items[:, -m.pos.weight.shape[0]:])
        items = m.item_vectors()
        h = m.hidden(seq, items)
        last = torch.zeros_like(seq, dtype=torch.bool)
        last[:, -1] = True
        logits = (h[:, -1] @ items.T + m.bias + m.repeat_bonus(seq, h, last, len(items))).float()
        logits[:, 0] = float("-inf")
        return logits.numpy().astype(np.float64)


class TiedRanker:
    """Scores from a handful of values, so most rows tie across the top-k cut; one user's
    row is NaN in places (the reference leaves NaN out like -inf)."""

    def __init__(self, n_items: int, seed: int) -> None:
        self.n_cols = n_items + 1
        self.rng = np.random.default_rng(seed)

    def scores(self, ctx: Contexts) -> np.ndarray:
        out = self.rng.integers(0, 4, (len(ctx), self.n_cols)).astype(np.float64)
        out[:, 0] = -np.inf
        if len(ctx) > 2:
            out[2, 1::3] = np.nan
        return out


def _both(model_for: Any, cfg: rec.RecommenderConfig, n_items: int, n_users: int, seed: int, k: int,
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    vocab = [f"p{i:03d}" for i in range(n_items)]
    inter = interactions(n_users, n_items, seed)
    users = sorted(inter["user_id"].unique()) + ["cold-seg", "cold-missing", "cold-empty", "new"]
    lists = {"popularity": inter["item_id"].value_counts(),
             "segment_popularity:1": pd.Series({"p003": 4.0, "p001": 4.0, "p000": 1.0}),
             "segment_popularity:2": pd.Series(dtype=float)}
    user_list = {"cold-seg": "segment_popularity:1", "cold-missing": "segment_popularity:9",
                 "cold-empty": "segment_popularity:2"}
    new = rec.recommend(model_for(seed), vocab, cfg, inter, users, AT, lists, CPU, k, user_list, batch_size=7)
    old = reference(model_for(seed), vocab, cfg, inter, users, lists, k, user_list)
    return new, old


@pytest.mark.parametrize(("exclude_seen", "n_blocks"), [(False, 1), (True, 1), (True, 2)])
def test_sasrec_lists_match_the_reference(exclude_seen: bool, n_blocks: int) -> None:
    cfg = replace(CFG, exclude_seen=exclude_seen, n_blocks=n_blocks)

    def model_for(seed: int) -> rec.SASRec:
        torch.manual_seed(seed)
        return rec.SASRec(25, 3, cfg).eval()

    new, old = _both(model_for, cfg, n_items=25, n_users=40, seed=1, k=10)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    cold = new[new["user_id"].isin(["cold-seg", "u-unknown"])]
    assert cold.loc[cold["user_id"] == "cold-seg", "item_id"].tolist() == ["p003", "p001", "p000"]
    if exclude_seen:  # users who saw most of the 25 items get lists shorter than 10
        assert new.groupby("user_id").size().min() < 10


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_ties_and_nan_follow_the_reference(exclude_seen: bool) -> None:
    cfg = replace(CFG, exclude_seen=exclude_seen)
    new, old = _both(lambda seed: TiedRanker(30, seed), cfg, n_items=30, n_users=30, seed=2, k=8)
    pd.testing.assert_frame_equal(new, old, check_exact=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_k_sorted_is_top_k_items(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=(200, 60)), 1)  # many ties, some across the cut
    scores[:, 0] = -np.inf
    scores[5, 10:] = -np.inf  # fewer finite items than k
    t = torch.as_tensor(scores, dtype=dtype)
    idx, vals = top_k_sorted(t, 12)
    want = top_k_items(t.numpy(), 12)
    np.testing.assert_array_equal(idx, want)
    np.testing.assert_array_equal(vals, np.take_along_axis(t.numpy(), want, axis=1).astype(np.float64))
    assert top_k_sorted(t, 100)[0].shape == (200, 59)
