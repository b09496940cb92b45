"""The hybrid: SASRec and neighbourhood signals mixed by weights learned out of sample.

Separate from the network because the mix is plain numpy over any ``Ranker``'s scores
and is fitted with a handful of weights, not with the model's optimiser.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from tasks.train.ranking_baselines import Contexts, Queries, Ranker, top_k_items
from tasks.train.recommender.evaluation import eval_batch_size

log = logging.getLogger(__name__)


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
