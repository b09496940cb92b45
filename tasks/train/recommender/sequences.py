"""User histories as fixed-length item sequences: holdout queries, scoring contexts and
training windows.

One vectorised place builds them, so training, evaluation and scoring cut histories the
same way (before the list's day 00:00, the last ``max_history`` known items).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.train.ranking_baselines import Contexts, Queries
from tasks.train.recommender.data import with_index


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


def _by_user_and_time(hist: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, pd.Index]:
    """``hist`` sorted by (user, time), stable, with its sorted user codes and names.

    Sorting the integer codes of ``factorize(sort=True)`` gives the order of a stable
    ``sort_values(["user_id", "ts"])`` at half its cost (string comparisons were half of
    a scoring run's contexts, issue 15); missing users or times take that sort."""
    codes, names = pd.factorize(hist["user_id"], sort=True)
    ts = hist["ts"]
    if (codes < 0).any() or ts.isna().any() or not pd.api.types.is_datetime64_any_dtype(ts):
        hist = hist.sort_values(["user_id", "ts"], kind="stable")
        codes, names = pd.factorize(hist["user_id"], sort=True)
        return hist, codes, pd.Index(names)
    order = np.lexsort((np.asarray(ts.array.asi8), codes))
    return hist.iloc[order], codes[order], pd.Index(names)


def _contexts(idx: pd.DataFrame, users: list[str], days: list[pd.Timestamp], max_history: int) -> Contexts:
    """Row r = the last ``max_history`` known items of ``users[r]`` before ``days[r]``.

    Vectorised: histories are sorted by (user, time) once and each query's window is
    found by binary search on a (user code, seconds) key."""
    n = len(users)
    items = np.zeros((n, max_history), dtype=np.int64)
    weights = np.zeros((n, max_history), dtype=np.float32)
    ages = np.zeros((n, max_history), dtype=np.float32)
    hist = idx[idx["item_idx"] > 0]
    if n == 0 or hist.empty:
        return Contexts(items, weights, ages)
    hist, codes, names = _by_user_and_time(hist)
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
