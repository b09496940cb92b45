"""What a registered version serves: its policy (hybrid or a baseline) rebuilt from an
artefact, and the top-k lists with popularity fallbacks for users without history.

``tasks/score/recommendations.py`` and the champion comparison in the recipe both use
these, so a version is evaluated exactly as it is served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import torch

from tasks.train.common import Artefact, config_from_dict
from tasks.train.ranking_baselines import PopularityRanker, Ranker, policy_scores, top_k_items
from tasks.train.recommender.baselines import build_baselines, extra_components, make_holdout
from tasks.train.recommender.config import RecommenderConfig
from tasks.train.recommender.evaluation import eval_batch_size
from tasks.train.recommender.fusion import HybridRanker
from tasks.train.recommender.model import SASRec, SASRecRanker
from tasks.train.recommender.sequences import user_contexts


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
