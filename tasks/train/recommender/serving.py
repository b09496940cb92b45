"""What a registered version serves: its policy (hybrid or a baseline) rebuilt from an
artefact, and the top-k lists with popularity fallbacks for users without history.

``tasks/score/recommendations.py`` and the champion comparison in the recipe both use
these, so a version is evaluated exactly as it is served.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import torch

from tasks.train.common import Artefact, config_from_dict
from tasks.train.ranking_baselines import Contexts, Ranker
from tasks.train.recommender.baselines import build_baselines, extra_components, make_holdout
from tasks.train.recommender.config import RecommenderConfig
from tasks.train.recommender.evaluation import eval_batch_size
from tasks.train.recommender.fusion import HybridRanker
from tasks.train.recommender.model import SASRec, SASRecRanker
from tasks.train.recommender.sequences import user_contexts
from tasks.train.recommender.topk import fallback_rows, mask_seen_, ranked_rows, rows_frame, top_k_sorted


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


# Users per network batch: the attention block's activations for 1024 users x 30 positions
# (qkv alone 24 MB) fall out of the CPU caches; 256 users ran the forward ~2x faster with
# bit-identical scores (issue 15). The score matrix per batch shrinks alike (5 MiB at 5k items).
# CPU only: an accelerator wants large batches, and keeps the batches it was measured with.
NETWORK_BATCH = 256


def serving_batch(model: SASRec | Ranker, n_items: int, device: torch.device, batch_size: int = 2048) -> int:
    """Users scored together by ``recommend``: at most ``batch_size`` and ``eval_batch_size``
    (a (users x catalogue) matrix per component), and ``NETWORK_BATCH`` for the network on CPU."""
    size = min(batch_size, eval_batch_size(n_items))
    return min(size, NETWORK_BATCH) if isinstance(model, SASRec) and device.type == "cpu" else size


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
    users_arr = np.asarray(users, dtype=object)
    warm_users = users_arr[warm]
    wctx = ctx.take(warm)
    vocab_arr = np.asarray(vocab, dtype=object)
    batch_size = serving_batch(model, len(vocab), device, batch_size)
    parts: list[tuple[np.ndarray, ...]] = []
    if isinstance(model, SASRec):
        model = model.to(device).eval()  # as SASRecRanker did: dropout off
    with torch.inference_mode():
        items = model.item_vectors() if isinstance(model, SASRec) else None
        for start in range(0, len(warm_users), batch_size):  # batches: a (users x catalogue) matrix is GBs on M
            part = wctx.take(slice(start, start + batch_size))
            scores = _batch_scores(model, items, part, device, cfg.exclude_seen)
            row, item, rank, score = ranked_rows(*top_k_sorted(scores, k))
            parts.append((warm_users[start:][row], vocab_arr[item - 1], rank, score,
                          np.full(len(row), strategy, dtype=object)))
    cold = [u for u, w in zip(users, warm, strict=True) if not w]
    keys = []
    for user in cold:
        key = user_fallback.get(user, "popularity")
        keys.append(key if key in fallbacks and not fallbacks[key].empty else "popularity")
    parts.append(fallback_rows(cold, keys, fallbacks, k))
    return rows_frame(parts)


def _batch_scores(model: SASRec | Ranker, items: torch.Tensor | None, part: Contexts, device: torch.device,
                  exclude_seen: bool) -> torch.Tensor:
    """One batch's (users x catalogue) scores under the policy, history masked when the shop
    excludes seen items. The network's float32 logits stay a tensor on ``device`` (no float64
    numpy copy: float32 -> float64 is exact, so ranks and served scores are unchanged); a
    ``Ranker``'s matrix is copied only when masking would write into it."""
    if isinstance(model, SASRec):
        n_pos = model.pos.weight.shape[0]
        scores = model(torch.as_tensor(part.items[:, -n_pos:], device=device), items)
    else:
        raw = model.scores(part)
        copy = exclude_seen or not raw.flags.writeable or not raw.flags.c_contiguous
        scores = torch.from_numpy(np.array(raw, copy=True) if copy else raw)
    return mask_seen_(scores, part.items) if exclude_seen else scores
