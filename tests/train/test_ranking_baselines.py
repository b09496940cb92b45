"""Ranking baselines and metrics on cases small enough to compute by hand.

The recommender is only promoted when it beats these, so a baseline that is
silently weak (or a metric that is silently generous) would let a bad model
through: each is pinned to numbers worked out on paper.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.train.metrics import catalogue_coverage, mrr_at_k
from tasks.train.ranking_baselines import (
    CategoryPopularityRanker,
    Contexts,
    EASERanker,
    ItemKNNRanker,
    PopularityRanker,
    Queries,
    RecentRanker,
    SessionKNNRanker,
    evaluate_rankers,
    mask_seen,
    ranks_of_targets,
    top_k_items,
)

T0 = datetime(2024, 3, 1)


def _ctx(rows: list[list[int]]) -> Contexts:
    items = np.array(rows, dtype=np.int64)
    return Contexts(items, (items > 0).astype(np.float32), np.zeros(items.shape, dtype=np.float32))


def _train(seqs: dict[str, list[int]], days: dict[str, list[int]] | None = None) -> pd.DataFrame:
    rows = []
    for user, items in seqs.items():
        for j, item in enumerate(items):
            day = (days or {}).get(user, [0] * len(items))[j]
            rows.append({"user_id": user, "item_idx": item, "ts": T0 + timedelta(days=day, minutes=j),
                         "weight": 1.0})
    return pd.DataFrame(rows)


def test_mrr_at_k_by_hand() -> None:
    assert mrr_at_k([1, 4, 20, 21, None], 20) == pytest.approx((1 + 1 / 4 + 1 / 20) / 5)
    assert math.isnan(mrr_at_k([], 20))


def test_catalogue_coverage_by_hand() -> None:
    assert catalogue_coverage([[1, 2, 3], [2, 3, 4]], 10) == pytest.approx(0.4)
    assert catalogue_coverage([], 10) == 0.0
    assert math.isnan(catalogue_coverage([[1]], 0))


def test_ranks_break_ties_by_item_index_and_skip_unknown_or_excluded() -> None:
    scores = np.array([[-np.inf, 1.0, 3.0, 1.0, 2.0]] * 4)
    # item 3 ties with item 1 (lower index first) -> rank 4; -1 = unknown; item 2 excluded below.
    assert ranks_of_targets(scores, np.array([2, 3, 1, -1])) == [1, 4, 3, None]
    masked = mask_seen(scores[:1], _ctx([[0, 2]]))
    assert ranks_of_targets(masked, np.array([2])) == [None]
    assert ranks_of_targets(masked, np.array([4])) == [1]


def test_popularity_orders_by_mass() -> None:
    pop = PopularityRanker.from_counts([1, 2, 2, 3], [1.0, 1.0, 1.0, 5.0], n_items=3)
    scores = pop.scores(_ctx([[0, 1]]))
    assert ranks_of_targets(scores, np.array([3])) == [1]
    assert ranks_of_targets(scores, np.array([1])) == [3]
    tie = pop.tie_breaker()
    assert tie[0] == 0.0
    assert 0 < tie[1] < tie[2] < tie[3] < 1e-6


def test_item_knn_similarities_by_hand() -> None:
    # Pairs: u1 1-2, 2-3 (lag 1, weight 1), 1-3 (lag 2, weight 0.5); u2 1-2.
    # C12 = 2, C13 = 0.5, C23 = 1; counts n1 = n2 = 2, n3 = 1; shrink 0:
    # sim12 = 2/2 = 1, sim13 = 0.5/sqrt(2), sim23 = 1/sqrt(2).
    train = _train({"u1": [1, 2, 3], "u2": [1, 2]})
    pop = PopularityRanker(np.zeros(5))
    knn = ItemKNNRanker(train, n_items=4, popularity=pop, window=5, shrink=0.0, decay=0.5)
    s = knn.scores(_ctx([[0, 1], [2, 1]]))
    assert s[0, 2] == pytest.approx(1.0)
    assert s[0, 3] == pytest.approx(0.5 / math.sqrt(2))
    assert s[0, 1] == 0.0  # an item is not its own neighbour
    assert s[0, 4] == 0.0
    # Context [2, 1]: item 1 (newest) weight 1, item 2 weight 0.5 -> item 3 = sim13 + 0.5 * sim23.
    assert s[1, 3] == pytest.approx(0.5 / math.sqrt(2) + 0.5 / math.sqrt(2))
    assert np.isneginf(s[:, 0]).all()


def test_session_knn_votes_of_recent_similar_sessions() -> None:
    # Sessions (user, day): A = {1, 2} (day 0), B = {1, 3} (day 9), C = {4} (day 9); split = day 10.
    train = _train({"a": [1, 2], "b": [1, 3], "c": [4]}, days={"a": [0, 0], "b": [9, 9], "c": [9]})
    split = pd.Timestamp(T0 + timedelta(days=10))
    pop = PopularityRanker(np.zeros(5))
    knn = SessionKNNRanker(train, n_items=4, popularity=pop, split=split, neighbours=1, recent_items=1,
                           half_life_days=5.0)
    s = knn.scores(_ctx([[0, 1]]))
    # Both A and B contain item 1; B is newer (less decay), so with one neighbour only B votes.
    assert s[0, 3] > 0
    assert s[0, 2] == 0.0
    assert s[0, 4] == 0.0
    both = SessionKNNRanker(train, n_items=4, popularity=pop, split=split, neighbours=2, recent_items=1,
                            half_life_days=5.0)
    s2 = both.scores(_ctx([[0, 1]]))
    assert s2[0, 3] > s2[0, 2] > 0  # both vote, the recent session louder


def test_evaluate_rankers_uses_the_same_targets_and_a_popularity_fallback_for_cold_users() -> None:
    pop = PopularityRanker.from_counts([1, 2, 3], [3.0, 2.0, 1.0], n_items=4)
    train = _train({"u1": [1, 4], "u2": [1, 4]})
    knn = ItemKNNRanker(train, n_items=4, popularity=pop, shrink=0.0)
    # Query 0: history [1] -> target 4 (kNN: rank 1; popularity: 4 has no mass -> rank 4).
    # Query 1: cold user -> both use popularity -> target 2 at rank 2. Target -1: unknown, a miss.
    queries = Queries(ctx=_ctx([[0, 1], [0, 0]]), users=["u1", "u3"], days=[T0, T0],
                      targets=np.array([4, 2, -1]), target_query=np.array([0, 1, 1]))
    out = evaluate_rankers({"pop": pop, "knn": knn}, queries, pop, n_items=4, exclude_seen=False, k=1)
    assert out["knn"]["hr_at_1"] == pytest.approx(1 / 3)
    assert out["pop"]["hr_at_1"] == 0.0
    assert out["knn"]["mrr_at_20"] == pytest.approx((1 + 1 / 2) / 3)
    assert out["pop"]["mrr_at_20"] == pytest.approx((1 / 4 + 1 / 2) / 3)
    assert out["knn"]["n_targets"] == out["pop"]["n_targets"] == 3
    assert out["pop"]["coverage_at_1"] == pytest.approx(1 / 4)  # item 1 for everyone
    assert out["knn"]["coverage_at_1"] == pytest.approx(2 / 4)  # item 4 for u1, item 1 for u3
    # Excluding seen items removes item 1 from u1's popularity list: target 4 moves up to rank 3.
    excl = evaluate_rankers({"pop": pop}, queries, pop, n_items=4, exclude_seen=True, k=3)
    assert excl["pop"]["hr_at_3"] == pytest.approx(2 / 3)


def test_ease_matches_the_closed_form_by_hand() -> None:
    # Users: u1 {1, 2}, u2 {1, 2, 3}, u3 {3}. X'X + lam I with lam = 1, P its inverse,
    # B = -P / diag(P) with a zero diagonal; a user's scores are their binary history @ B.
    train = _train({"u1": [1, 2, 1], "u2": [1, 2, 3], "u3": [3]})  # u1's repeat of 1 counts once
    pop = PopularityRanker(np.zeros(5))
    ease = EASERanker(train, n_items=4, popularity=pop, lam=1.0)
    x = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=float)
    p = np.linalg.inv(x.T @ x + np.eye(3))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    s = ease.scores(_ctx([[0, 1], [1, 3]]))
    assert s[0, 1:4] == pytest.approx(b[0])
    assert s[1, 1:4] == pytest.approx(b[0] + b[2])
    assert s[0, 2] > s[0, 3]  # 2 co-occurs with 1 more often than 3 does
    assert s[0, 4] == 0.0  # never interacted: no column
    assert np.isneginf(s[:, 0]).all()
    capped = EASERanker(train, n_items=4, popularity=pop, lam=1.0, max_items=2)
    assert capped.cols.tolist() == [1, 2]  # the two most interacted (3 ties with them: lower index first)


def test_recent_ranker_scores_the_users_own_items_newest_first() -> None:
    pop = PopularityRanker.from_counts([4], [1.0], n_items=4)
    s = RecentRanker(n_items=4, popularity=pop, decay=0.5).scores(_ctx([[2, 1, 2, 3]]))
    # 3 newest (1), 2 at steps 1 and 3 (0.5 + 0.125), 1 at step 2 (0.25); 4 only the tie-breaker.
    assert s[0, 3] == pytest.approx(1.0, abs=1e-5)
    assert s[0, 2] == pytest.approx(0.625, abs=1e-5)
    assert s[0, 1] == pytest.approx(0.25, abs=1e-5)
    assert 0 < s[0, 4] < 1e-6


def test_category_popularity_by_hand_and_without_categories() -> None:
    # Items 1, 2 in category 1 (mass 3 and 1), items 3, 4 in category 2 (mass 2 and 2).
    pop = PopularityRanker.from_counts([1, 2, 3, 4], [3.0, 1.0, 2.0, 2.0], n_items=4)
    cats = np.array([0, 1, 1, 2, 2])
    s = CategoryPopularityRanker(cats, pop, decay=0.5).scores(_ctx([[3, 1]]))
    # History: item 1 (newest, weight 1, category 1), item 3 (weight 0.5, category 2): shares 2/3, 1/3.
    assert s[0, 1] == pytest.approx(2 / 3 * 3 / 4, abs=1e-5)
    assert s[0, 2] == pytest.approx(2 / 3 * 1 / 4, abs=1e-5)
    assert s[0, 3] == pytest.approx(1 / 3 * 1 / 2, abs=1e-5)
    # No category data: every item is category 0 and the ranking is plain popularity.
    flat = CategoryPopularityRanker(np.zeros(5, dtype=np.int64), pop).scores(_ctx([[3, 1]]))
    assert top_k_items(flat, 4).tolist() == top_k_items(pop.scores(_ctx([[3, 1]])), 4).tolist() == [[1, 3, 4, 2]]


def test_session_knn_ignores_anonymous_interactions() -> None:
    """Guest interactions (no user id) form no session; before the fix they crashed the
    ranker with 'cannot convert float NaN to integer' (seen on synthetic M)."""
    named = _train({"a": [1, 2], "b": [1, 2]})
    guest = pd.DataFrame([{"user_id": None, "item_idx": 3, "ts": T0, "weight": 1.0}])
    pop = PopularityRanker.from_counts([1, 2, 3], [1.0, 1.0, 1.0], n_items=3)
    with_guest = SessionKNNRanker(pd.concat([named, guest], ignore_index=True), 3, pop, pd.Timestamp(T0 + timedelta(days=1)))
    without = SessionKNNRanker(named, 3, pop, pd.Timestamp(T0 + timedelta(days=1)))
    assert with_guest.items.shape == without.items.shape == (2, 4)
    np.testing.assert_allclose(with_guest.scores(_ctx([[0, 1]])), without.scores(_ctx([[0, 1]])))
