"""Ranking metrics over result lists: graded nDCG@k and MRR, overall and by user history.

Lists are padded arrays (``Lists``): one row per search, one column per shown result, a mask
for padding. Ties in a policy's scores are broken by catalogue order, never by the position
the shop showed (that would hand every policy the logged ranking, and its position bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Lists:
    """Search result lists, padded: x (n, L, F), gain (n, L), mask (n, L), and per list its
    search id, whether its user had history before the day, and the catalogue positions."""

    x: np.ndarray
    gain: np.ndarray
    mask: np.ndarray
    search_ids: np.ndarray
    has_history: np.ndarray
    pos: np.ndarray

    def __len__(self) -> int:
        return len(self.search_ids)

    def subset(self, keep: np.ndarray) -> Lists:
        return Lists(self.x[keep], self.gain[keep], self.mask[keep], self.search_ids[keep],
                     self.has_history[keep], self.pos[keep])

    def column(self, index: int) -> np.ndarray:
        """One feature as an (n, L) score matrix (what a one-feature baseline ranks by)."""
        return self.x[:, :, index].astype(float)


def pack(rows: pd.DataFrame, x: np.ndarray, has_history: np.ndarray) -> Lists:
    """Rows (search_event_id, pos, gain; ``x`` aligned) -> padded lists, each in catalogue order."""
    order = np.lexsort((rows["pos"].to_numpy(), rows["search_event_id"].to_numpy()))
    rows, x, has_history = rows.iloc[order].reset_index(drop=True), x[order], has_history[order]
    ids, start, counts = np.unique(rows["search_event_id"].to_numpy(), return_index=True, return_counts=True)
    n, width = len(ids), int(counts.max()) if len(counts) else 0
    slot = np.arange(len(rows)) - np.repeat(start, counts)
    which = np.repeat(np.arange(n), counts)
    xs = np.zeros((n, width, x.shape[1]), dtype=np.float32)
    gain = np.zeros((n, width))
    mask = np.zeros((n, width), dtype=bool)
    pos = np.full((n, width), -1, dtype=np.int64)
    xs[which, slot] = x
    gain[which, slot] = rows["gain"].to_numpy()
    mask[which, slot] = True
    pos[which, slot] = rows["pos"].to_numpy()
    return Lists(xs, gain, mask, ids, has_history[start].astype(bool), pos)


def ranks(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """1-based rank of every slot under ``scores`` (padding last; ties: earlier slot first)."""
    masked = np.where(mask, scores, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")
    out = np.empty_like(order)
    np.put_along_axis(out, order, np.arange(1, scores.shape[1] + 1)[None, :].repeat(len(scores), 0), axis=1)
    return out


def ndcg_at_k(scores: np.ndarray, gain: np.ndarray, mask: np.ndarray, k: int = 10) -> np.ndarray:
    """Per list: DCG@k of ``scores``' order over the ideal DCG@k, gains 2^g - 1 (NaN: no gain)."""
    r = ranks(scores, mask)
    value = np.where(mask, 2.0 ** gain - 1.0, 0.0)
    dcg = np.where(r <= k, value / np.log2(r + 1), 0.0).sum(axis=1)
    ideal_values = -np.sort(-value, axis=1)[:, :k]
    ideal = (ideal_values / np.log2(np.arange(2, ideal_values.shape[1] + 2))).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ideal > 0, dcg / ideal, np.nan)


def reciprocal_rank(scores: np.ndarray, gain: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per list: 1 / rank of the first relevant (clicked or bought) result; NaN without one."""
    r = np.where(mask & (gain > 0), ranks(scores, mask), np.iinfo(np.int64).max)
    best = r.min(axis=1)
    return np.where(best < np.iinfo(np.int64).max, 1.0 / np.maximum(best, 1), np.nan)


def report(scores: np.ndarray, lists: Lists, k: int = 10) -> dict[str, float]:
    """nDCG@k and MRR overall, for users with history before the day and for new users
    (no history: first-time or anonymous searchers), plus the list counts."""
    ndcg = ndcg_at_k(scores, lists.gain, lists.mask, k)
    rr = reciprocal_rank(scores, lists.gain, lists.mask)
    out: dict[str, float] = {}
    for suffix, keep in (("", np.ones(len(lists), dtype=bool)), ("_with_history", lists.has_history),
                         ("_new_users", ~lists.has_history)):
        out[f"ndcg_at_{k}{suffix}"] = float(np.nanmean(ndcg[keep])) if keep.any() else float("nan")
        out[f"mrr{suffix}"] = float(np.nanmean(rr[keep])) if keep.any() else float("nan")
        out[f"n_searches{suffix}"] = float(keep.sum())
    return out
