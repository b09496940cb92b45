"""Serving's top-k: one ``torch.topk`` per chunk of users and output rows built as arrays.

``recommend()`` (serving.py) used numpy ``top_k_items`` on float64 copies of the scores
and one Python dict per output row; on 50k users x 5k items the dicts alone took longer
than the network (issue 15). These functions give exactly the same lists: the k best
items per row, best first, ties by lower item index (``top_k_items``' order), items
with a non-finite score left out and ranks counted over the kept ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tasks.train.ranking_baselines import top_k_items

COLUMNS = ["user_id", "item_id", "rank", "score", "strategy"]


def mask_seen_(scores: torch.Tensor, items: np.ndarray) -> torch.Tensor:
    """Set each row's history items (``items`` (n, L), 0 = padding) to -inf, in place:
    one ``index_put_`` instead of a copy of the matrix per batch."""
    n, width = items.shape
    rows = np.repeat(np.arange(n), width)
    cols = items.reshape(-1)
    keep = cols > 0
    if keep.any():
        at = (torch.as_tensor(rows[keep], device=scores.device), torch.as_tensor(cols[keep], device=scores.device))
        scores.index_put_(at, torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device))
    return scores


def top_k_sorted(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, scores), each (n, k') with k' = min(k, columns - 1): ``top_k_items``' lists.

    torch orders equal scores arbitrarily, so the k selected are re-sorted by (score
    descending, index ascending); a row whose k-th score also belongs to an item left
    out (a tie across the cut, e.g. fewer than k finite scores), or that holds NaN, is
    redone by ``top_k_items`` so the lower index wins exactly as before. Such rows are
    rare on real scores.
    """
    n, n_cols = scores.shape
    k = min(k, n_cols - 1)
    if k <= 0 or n == 0:
        return np.zeros((n, 0), dtype=np.int64), np.zeros((n, 0), dtype=np.float64)
    # One more than needed: the (k+1)-th equal to the k-th is a tie across the cut (a full
    # pass counting scores >= the k-th cost more than the topk itself). torch puts NaN first.
    vals, idx = torch.topk(scores, k + 1, dim=1)
    ambiguous = (vals[:, k] == vals[:, k - 1]) | torch.isnan(vals).any(dim=1)
    idx, perm = idx[:, :k].sort(dim=1)
    vals, perm = vals[:, :k].gather(1, perm).sort(dim=1, descending=True, stable=True)
    idx = idx.gather(1, perm)
    idx_np = idx.cpu().numpy()
    vals_np = vals.cpu().numpy().astype(np.float64)
    redo = np.flatnonzero(ambiguous.cpu().numpy())
    if len(redo):
        part = scores[torch.as_tensor(redo, device=scores.device)].cpu().numpy()
        top = top_k_items(part, k)
        idx_np[redo] = top
        vals_np[redo] = np.take_along_axis(part, top, axis=1)
    return idx_np, vals_np


def ranked_rows(idx: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, item, rank, score) flat arrays of the finite entries of top-k lists; rank
    counts only the kept entries, as a list that skips -inf (seen) items is served."""
    finite = np.isfinite(vals)
    rank = np.cumsum(finite, axis=1)
    row = np.broadcast_to(np.arange(len(idx))[:, None], idx.shape)
    return row[finite], idx[finite], rank[finite], vals[finite]


def fallback_rows(users: list[str], keys: list[str], fallbacks: dict[str, pd.Series], k: int,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user, item, rank, score, key) arrays: each user gets the first ``k`` items of the
    list ``keys[i]`` names, scored by their share of that list's mass. Each list is cut
    once, then repeated per user."""
    codes, uniques = pd.factorize(pd.Series(keys, dtype=object))
    items, shares = [], []
    for key in uniques:
        pop = fallbacks[key]
        share = pop / pop.sum() if len(pop) else pop
        top = share.iloc[:k]
        items.append(np.asarray(top.index, dtype=object))
        shares.append(top.to_numpy(dtype=np.float64))
    lens = np.array([len(i) for i in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    per_user = lens[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    total = int(per_user.sum())
    starts = np.repeat(np.cumsum(per_user) - per_user, per_user)
    within = np.arange(total, dtype=np.int64) - starts
    src = np.repeat(offsets[codes] if len(codes) else per_user, per_user) + within
    pool_items = np.concatenate(items) if items else np.zeros(0, dtype=object)
    pool_scores = np.concatenate(shares) if shares else np.zeros(0)
    return (np.repeat(np.asarray(users, dtype=object), per_user), pool_items[src], within + 1,
            pool_scores[src], np.repeat(np.asarray(keys, dtype=object), per_user))


def rows_frame(parts: list[tuple[np.ndarray, ...]]) -> pd.DataFrame:
    """One frame from (user, item, rank, score, strategy) array parts, in order; the empty
    frame keeps the object columns a frame built from no rows always had."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return pd.DataFrame([], columns=COLUMNS)
    cols = [np.concatenate([p[j] for p in parts]) for j in range(len(COLUMNS))]
    return pd.DataFrame({
        "user_id": cols[0].astype(object), "item_id": cols[1].astype(object),
        "rank": cols[2].astype(np.int64), "score": cols[3].astype(np.float64),
        "strategy": cols[4].astype(object)})
