"""Ranking baselines the recommender must beat, and the shared ranking evaluation.

Every policy (the model and each baseline) is a *ranker*: given a batch of user
contexts (the user's most recent known items before the instant the list is
computed) it returns a score for every item of the vocabulary. The evaluation
then ranks each holdout target the same way for all of them, so metrics are
comparable by construction:

* ``popularity``: event-weighted interaction mass in the days before the split.
* ``item_knn``: item-to-item co-occurrence within a few steps of each user's
  sequence, cosine-normalised; a user's score for item j is the recency-weighted
  sum of similarities between j and the items in the user's history.
* ``session_knn``: recency-aware session kNN (V-SKNN, Ludewig & Jannach 2018):
  past sessions (one per user and day) are neighbours of the user's recent items
  (newer items weigh more); the k most similar, older ones discounted by a
  half-life, vote for their items.
* ``ease``: EASE (Steck 2019), closed-form linear item-item autoencoder over the
  user x item matrix (numpy only; ``implicit`` ALS/BPR would need a new dependency
  and was not better than EASE in the published comparisons on clickstreams).

Column 0 of every score matrix is padding and is never ranked. kNN scores get a
tiny popularity tie-breaker (items no neighbour mentions are then ordered by
popularity, as any sensible deployment would fill the list).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from scipy import sparse

from tasks.train.metrics import catalogue_coverage, hit_rate_at_k, mrr_at_k, ndcg_at_k

TIE_BREAK = 1e-6


@dataclass
class Contexts:
    """Fixed-width user histories, right-aligned (most recent last), 0 = padding.

    ``ages`` is how many days before the query instant each interaction happened,
    so recency-aware policies can discount old items without re-reading events.
    """

    items: np.ndarray  # (n, L) int64 item index
    weights: np.ndarray  # (n, L) float32 event-type weight (0 on padding)
    ages: np.ndarray  # (n, L) float32 days before the query instant

    def __len__(self) -> int:
        return len(self.items)

    def take(self, rows: np.ndarray | slice) -> Contexts:
        return Contexts(self.items[rows], self.weights[rows], self.ages[rows])

    @property
    def has_history(self) -> np.ndarray:
        return (self.items > 0).any(axis=1)


class Ranker(Protocol):
    """Anything that scores every item (n_items + 1 columns) for a batch of contexts."""

    def scores(self, ctx: Contexts) -> np.ndarray: ...


# ------------------------------------------------------------ popularity ----
class PopularityRanker:
    """The same list for everyone: items by interaction mass (ties: lower index first)."""

    def __init__(self, mass: np.ndarray) -> None:
        self.mass = np.asarray(mass, dtype=np.float64).copy()
        self.mass[0] = -np.inf

    @classmethod
    def from_counts(cls, item_idx: Iterable[int], weights: Iterable[float], n_items: int) -> PopularityRanker:
        mass = np.zeros(n_items + 1)
        np.add.at(mass, np.fromiter(item_idx, dtype=np.int64), np.fromiter(weights, dtype=np.float64))
        return cls(mass)

    def scores(self, ctx: Contexts) -> np.ndarray:
        return np.broadcast_to(self.mass, (len(ctx), len(self.mass))).astype(np.float64)

    def tie_breaker(self) -> np.ndarray:
        """Popularity squeezed into [0, TIE_BREAK): orders otherwise-equal kNN scores."""
        m = np.where(np.isfinite(self.mass), self.mass, 0.0)
        top = m.max() if m.size and m.max() > 0 else 1.0
        out = TIE_BREAK * m / (top * 1.0001)
        out[0] = 0.0
        return out


def _sequences(train: pd.DataFrame) -> list[np.ndarray]:
    """Per-user item-index sequences (time order) from rows with ``item_idx`` > 0."""
    known = train[train["item_idx"] > 0]
    return [g.to_numpy() for _, g in known.groupby("user_id", sort=True)["item_idx"]]


def _recency_weights(ctx: Contexts, decay: float) -> np.ndarray:
    """decay ** (steps back from the most recent item), 0 on padding."""
    n_pos = ctx.items.shape[1]
    steps = np.arange(n_pos - 1, -1, -1, dtype=np.float64)
    return np.where(ctx.items > 0, decay**steps[None, :], 0.0)


def _query_matrix(ctx: Contexts, weights: np.ndarray, n_cols: int) -> sparse.csr_matrix:
    rows = np.repeat(np.arange(len(ctx)), ctx.items.shape[1])
    m = sparse.csr_matrix((weights.reshape(-1), (rows, ctx.items.reshape(-1))), shape=(len(ctx), n_cols))
    m.sum_duplicates()
    m.data[:] = np.where(m.indices == 0, 0.0, m.data)
    m.eliminate_zeros()
    return m


# --------------------------------------------------------------- item kNN ----
class ItemKNNRanker:
    """Item-to-item co-occurrence within ``window`` steps of a user's sequence.

    Pairs ``lag`` steps apart count ``1 / lag`` (both directions); similarity is
    ``C_ij / (sqrt(n_i * n_j) + shrink)`` with the diagonal removed, keeping the
    ``neighbours`` most similar items per item.
    """

    def __init__(self, train: pd.DataFrame, n_items: int, popularity: PopularityRanker, window: int = 5,
                 neighbours: int = 100, shrink: float = 10.0, decay: float = 0.8) -> None:
        self.n_cols = n_items + 1
        self.decay = decay
        self.tie = popularity.tie_breaker()
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for seq in _sequences(train):
            for lag in range(1, min(window, len(seq) - 1) + 1):
                a, b = seq[:-lag], seq[lag:]
                rows += [a, b]
                cols += [b, a]
                vals += [np.full(len(a), 1.0 / lag)] * 2
        if rows:
            co = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(self.n_cols, self.n_cols))
        else:
            co = sparse.csr_matrix((self.n_cols, self.n_cols))
        co.sum_duplicates()
        co.setdiag(0)
        co.eliminate_zeros()
        count = np.bincount(np.concatenate(_sequences(train)) if rows else np.zeros(0, dtype=np.int64),
                            minlength=self.n_cols).astype(np.float64)
        co = co.tocoo()
        sim = co.data / (np.sqrt(count[co.row] * count[co.col]) + shrink)
        self.sim = _top_per_row(sparse.csr_matrix((sim, (co.row, co.col)), shape=co.shape), neighbours)

    def scores(self, ctx: Contexts) -> np.ndarray:
        q = _query_matrix(ctx, _recency_weights(ctx, self.decay), self.n_cols)
        out = np.asarray((q @ self.sim).todense(), dtype=np.float64)
        out += self.tie[None, :]
        out[:, 0] = -np.inf
        return out


def _top_per_row(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the k largest entries of each row (the rest are noise and cost memory)."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        if hi == lo:
            continue
        data, idx = m.data[lo:hi], m.indices[lo:hi]
        if hi - lo > k:
            keep = np.argpartition(-data, k)[:k]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(len(idx), r))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sparse.csr_matrix(m.shape)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape)


# ------------------------------------------------------------ session kNN ----
class SessionKNNRanker:
    """Recency-aware session kNN over (user, day) sessions before the split.

    The query is the user's ``recent_items`` latest items, weighted linearly by
    position (newest = 1). A past session's similarity is the summed weight of the
    query items it contains divided by sqrt(its length), times
    ``0.5 ** (age_days / half_life_days)``; the ``neighbours`` most similar
    sessions vote for their items with that similarity. Each item is linked to at
    most ``sessions_per_item`` sessions (its highest-weighted, i.e. most recent).
    """

    def __init__(self, train: pd.DataFrame, n_items: int, popularity: PopularityRanker, split: pd.Timestamp,
                 neighbours: int = 100, recent_items: int = 10, half_life_days: float = 30.0,
                 sessions_per_item: int = 1000) -> None:
        self.n_cols = n_items + 1
        self.k = neighbours
        self.recent = recent_items
        self.tie = popularity.tie_breaker()
        # Anonymous interactions (no user id: e.g. guest checkouts in a shop's order lines) belong
        # to no (user, day) session; groupby would give them a NaN group number.
        known = train[(train["item_idx"] > 0) & train["user_id"].notna() & train["ts"].notna()]
        sess = known.assign(day=known["ts"].dt.floor("D")).drop_duplicates(["user_id", "day", "item_idx"])
        keys = sess.groupby(["user_id", "day"], sort=True).ngroup().to_numpy()
        n_sess = int(keys.max()) + 1 if len(keys) else 0
        self.items = sparse.csr_matrix((np.ones(len(sess)), (keys, sess["item_idx"].to_numpy())),
                                       shape=(n_sess, self.n_cols))
        length = np.asarray(self.items.sum(axis=1)).ravel()
        last = sess.groupby(keys)["ts"].max().to_numpy() if n_sess else np.array([], dtype="datetime64[ns]")
        age_days = (np.datetime64(split) - last.astype("datetime64[ns]")) / np.timedelta64(1, "D")
        factor = 0.5 ** (np.asarray(age_days, dtype=float) / half_life_days) / np.sqrt(np.maximum(length, 1))
        # V-SKNN's sampling: an item only links to its most recent (highest-weight)
        # sessions, which bounds the cost on big shops and favours recent neighbours.
        self.weighted_t = _top_per_row((sparse.diags(factor) @ self.items).T.tocsr(), sessions_per_item)

    def scores(self, ctx: Contexts) -> np.ndarray:
        n_pos = ctx.items.shape[1]
        recent = np.zeros_like(ctx.items)
        recent[:, -self.recent:] = ctx.items[:, -self.recent:]
        pos = np.arange(n_pos, dtype=np.float64) - (n_pos - self.recent)
        w = np.where(recent > 0, np.clip((pos + 1) / self.recent, 0, 1)[None, :], 0.0)
        q = _query_matrix(Contexts(recent, ctx.weights, ctx.ages), w, self.n_cols)
        sims = (q @ self.weighted_t).tocsr() if self.items.shape[0] else sparse.csr_matrix((len(ctx), 0))
        top = _top_per_row(sims, self.k) if sims.shape[1] else sims
        out = np.asarray((top @ self.items).todense(), dtype=np.float64) if sims.shape[1] else \
            np.zeros((len(ctx), self.n_cols))
        out += self.tie[None, :]
        out[:, 0] = -np.inf
        return out


# ----------------------------------------------------------- recently seen ----
class RecentRanker:
    """Items of the user's own history, newest first (``decay ** steps back``, summed over
    repeats); everything else by popularity. Re-viewing and re-buying are a large share
    of next-day items on real clickstreams, and neither item-kNN nor EASE (both drop the
    diagonal) can score an item the user already saw."""

    def __init__(self, n_items: int, popularity: PopularityRanker, decay: float = 0.8) -> None:
        self.n_cols = n_items + 1
        self.decay = decay
        self.tie = popularity.tie_breaker()

    def scores(self, ctx: Contexts) -> np.ndarray:
        q = _query_matrix(ctx, _recency_weights(ctx, self.decay), self.n_cols)
        out = np.asarray(q.todense(), dtype=np.float64) + self.tie[None, :]
        out[:, 0] = -np.inf
        return out


# ------------------------------------------------------- category popularity ----
class CategoryPopularityRanker:
    """Popular items of the categories the user has been browsing: the user's
    recency-weighted category shares times each item's share of its category's
    popularity. Uses the item side feature that real clickstreams usually do have (a
    category id); without categories every item is category 0 and it degrades to
    plain popularity."""

    def __init__(self, item_category: np.ndarray, popularity: PopularityRanker, decay: float = 0.8) -> None:
        self.category = np.asarray(item_category, dtype=np.int64)
        self.n_cols = len(self.category)
        self.decay = decay
        mass = np.where(np.isfinite(popularity.mass), popularity.mass, 0.0)
        mass[0] = 0.0
        per_cat = np.bincount(self.category, weights=mass, minlength=int(self.category.max(initial=0)) + 1)
        self.within = mass / np.maximum(per_cat[self.category], 1e-12)
        self.onehot = sparse.csr_matrix((np.ones(self.n_cols), (np.arange(self.n_cols), self.category)),
                                        shape=(self.n_cols, len(per_cat)))
        self.tie = popularity.tie_breaker()

    def scores(self, ctx: Contexts) -> np.ndarray:
        q = _query_matrix(ctx, _recency_weights(ctx, self.decay), self.n_cols)
        share = np.asarray((q @ self.onehot).todense(), dtype=np.float64)
        share /= np.maximum(share.sum(axis=1, keepdims=True), 1e-12)
        out = share[:, self.category] * self.within[None, :] + self.tie[None, :]
        out[:, 0] = -np.inf
        return out


# ------------------------------------------------------------------- EASE ----
class EASERanker:
    """EASE (Steck 2019): a closed-form item-item linear autoencoder, the strongest simple
    collaborative-filtering baseline in published comparisons.

    ``B = I - P / diag(P)`` with ``P = (X'X + lambda I)^-1`` over the user x item
    binary matrix ``X`` of the training interactions; a user's scores are their
    (binary) history times ``B``. The Gram matrix is dense, so only the
    ``max_items`` most interacted items get a row and column (a 10k-item inverse is a
    few CPU seconds and 800 MB); other items score only the popularity tie-breaker.
    """

    def __init__(self, train: pd.DataFrame, n_items: int, popularity: PopularityRanker, lam: float = 100.0,
                 max_items: int = 8000) -> None:
        self.n_cols = n_items + 1
        self.tie = popularity.tie_breaker()
        known = train[train["item_idx"] > 0].drop_duplicates(["user_id", "item_idx"])
        counts = np.bincount(known["item_idx"].to_numpy(), minlength=self.n_cols)
        counts[0] = 0
        order = np.lexsort((np.arange(self.n_cols), -counts))  # most interacted first, ties by index
        self.cols = np.sort(order[: min(max_items, int((counts > 0).sum()))])
        local = np.full(self.n_cols, -1, dtype=np.int64)
        local[self.cols] = np.arange(len(self.cols))
        self.local = local
        m = len(self.cols)
        self.b = np.zeros((m, m))
        rows = known[local[known["item_idx"].to_numpy()] >= 0]
        if m == 0 or rows.empty:
            return
        users = pd.factorize(rows["user_id"])[0]
        x = sparse.csr_matrix((np.ones(len(rows)), (users, local[rows["item_idx"].to_numpy()])),
                              shape=(int(users.max()) + 1, m))
        gram = (x.T @ x).toarray() + lam * np.eye(m)
        p = np.linalg.inv(gram)
        self.b = -p / np.diag(p)[None, :]
        np.fill_diagonal(self.b, 0.0)

    def scores(self, ctx: Contexts) -> np.ndarray:
        out = np.tile(self.tie, (len(ctx), 1))
        if len(self.cols):
            cols = self.local[ctx.items]
            rows = np.repeat(np.arange(len(ctx)), ctx.items.shape[1]).reshape(ctx.items.shape)
            ok = (ctx.items > 0) & (cols >= 0)
            q = sparse.csr_matrix((np.ones(int(ok.sum())), (rows[ok], cols[ok])), shape=(len(ctx), len(self.cols)))
            q.sum_duplicates()
            q.data[:] = 1.0
            out[:, self.cols] += np.asarray(q @ self.b)
        out[:, 0] = -np.inf
        return out


# ------------------------------------------------------------- evaluation ----
@dataclass
class Queries:
    """What is evaluated: one context per (user, day), and the targets of that day.

    ``target_query[j]`` is the row of ``ctx`` that target ``j`` is ranked under;
    ``targets[j]`` is its item index (-1 = an item unknown to the vocabulary,
    which no policy can rank: a sure miss for all).
    """

    ctx: Contexts
    users: list[str]
    days: list[pd.Timestamp]
    targets: np.ndarray  # (m,) int64
    target_query: np.ndarray  # (m,) int64

    def __len__(self) -> int:
        return len(self.targets)


def ranks_of_targets(scores: np.ndarray, targets: np.ndarray) -> list[int | None]:
    """1-based rank of each target in its score row, ties broken by item index (the
    order a stable descending sort serves). None for unknown or excluded targets."""
    if len(targets) == 0:
        return []
    t = np.where(targets > 0, targets, 0)
    own = scores[np.arange(len(t)), t][:, None]
    higher = (scores > own).sum(axis=1)
    tied_before = ((scores == own) & (np.arange(scores.shape[1])[None, :] < t[:, None])).sum(axis=1)
    valid = (targets > 0) & np.isfinite(own[:, 0])
    return [int(r) if ok else None for r, ok in zip(higher + tied_before + 1, valid, strict=True)]


def top_k_items(scores: np.ndarray, k: int) -> np.ndarray:
    """(n, k) item indices of the k best scores per row, best first, ties by lower index
    (argpartition first: a full argsort of a 5k-item catalogue per row is the slow part)."""
    k = min(k, scores.shape[1] - 1)
    if k <= 0:
        return np.zeros((len(scores), 0), dtype=np.int64)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)  # by score descending, then item index
    return np.take_along_axis(part, order, axis=1)


def mask_seen(scores: np.ndarray, ctx: Contexts) -> np.ndarray:
    """Set items already in the user's history to -inf (never recommended again)."""
    out = scores.copy()
    rows = np.repeat(np.arange(len(ctx)), ctx.items.shape[1])
    cols = ctx.items.reshape(-1)
    keep = cols > 0
    out[rows[keep], cols[keep]] = -np.inf
    return out


def policy_scores(ranker: Ranker, ctx: Contexts, fallback: PopularityRanker, exclude_seen: bool) -> np.ndarray:
    """Scores under the serving policy: the ranker for users with history, popularity for
    cold users, history removed when the shop excludes already-seen items."""
    scores = ranker.scores(ctx)
    cold = ~ctx.has_history
    if cold.any():
        scores = np.array(scores, dtype=np.float64, copy=True)
        scores[cold] = fallback.scores(ctx.take(cold))
    return mask_seen(scores, ctx) if exclude_seen else scores


def evaluate_rankers(rankers: dict[str, Ranker], queries: Queries, fallback: PopularityRanker, n_items: int,
                     *, exclude_seen: bool, k: int = 10, mrr_k: int = 20, batch_size: int = 1024,
                     ) -> dict[str, dict[str, float]]:
    """Metrics of every ranker on exactly the same queries and targets.

    HR@k, NDCG@k, MRR@mrr_k over targets; catalogue coverage@k over the top-k
    lists of all queries; ``n_targets`` so a reader can see the holdout size.
    """
    ranks: dict[str, list[int | None]] = {name: [None] * len(queries) for name in rankers}
    lists: dict[str, list[np.ndarray]] = {name: [] for name in rankers}
    order = np.argsort(queries.target_query, kind="stable")
    bounds = np.searchsorted(queries.target_query[order], np.arange(len(queries.ctx) + 1))
    for start in range(0, len(queries.ctx), batch_size):
        stop = min(start + batch_size, len(queries.ctx))
        ctx = queries.ctx.take(slice(start, stop))
        tgt_rows = order[bounds[start]:bounds[stop]]
        local = queries.target_query[tgt_rows] - start
        for name, ranker in rankers.items():
            scores = policy_scores(ranker, ctx, fallback, exclude_seen)
            lists[name].append(top_k_items(scores, k))
            for j, r in zip(tgt_rows, ranks_of_targets(scores[local], queries.targets[tgt_rows]), strict=True):
                ranks[name][j] = r
    out = {}
    for name in rankers:
        tops = np.concatenate(lists[name]) if lists[name] else np.zeros((0, k), dtype=np.int64)
        out[name] = ranking_metrics(ranks[name], tops, n_items, k, mrr_k)
    return out


def ranking_metrics(ranks: Sequence[int | None], top_lists: np.ndarray, n_items: int, k: int = 10,
                    mrr_k: int = 20) -> dict[str, float]:
    return {f"hr_at_{k}": hit_rate_at_k(ranks, k), f"ndcg_at_{k}": ndcg_at_k(ranks, k),
            f"mrr_at_{mrr_k}": mrr_at_k(ranks, mrr_k),
            f"coverage_at_{k}": catalogue_coverage([row[row > 0] for row in top_lists], n_items),
            "n_targets": float(len(ranks))}
