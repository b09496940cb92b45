"""Recommendation scoring: which policy serves each user, and one partition rewritten
idempotently. Real training and a DuckDB warehouse, nothing mocked."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd

from tasks.score import recommendations as scoring
from tasks.train import recommender, registry
from tasks.train.common import load_artefact
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
AS_OF = datetime(2024, 3, 1)
CFG = recommender.RecommenderConfig(epochs=3, embedding_dim=16, max_history=10)


def _load_events() -> pd.DataFrame:
    events = synthetic_frames.fct_events(AS_OF, n_users=30, seed=11)
    cold = events.iloc[[0, 0]].assign(user_id=["cold-seg", "cold-plain"], product_id="p-new",
                                      event_at=AS_OF - timedelta(hours=2))
    replace_partition("marts.fct_events", pd.concat([events, cold], ignore_index=True), {})
    return events


def _load_segments() -> None:
    profile = pd.DataFrame({"user_id": [f"u{i:03d}" for i in range(10)] + ["cold-seg"], "segment": 1})
    profile["as_of_date"] = D
    profile["as_of_hour"] = pd.Series([None] * len(profile), dtype="datetime64[ns]")
    replace_partition(scoring.SEGMENT_TABLE, profile, {"as_of_date": D, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})


def test_each_user_gets_model_segment_or_global_popularity(isolated_home) -> None:
    events = _load_events()
    _load_segments()
    result = recommender.train(D, "train-1", CFG)
    assert result.status == "champion"

    recs, version = scoring.build_recommendations(D)
    assert version == result.version
    by_user = recs.drop_duplicates("user_id").set_index("user_id")
    assert by_user.loc["cold-seg", "strategy"] == "segment_popularity"
    assert by_user.loc["cold-seg", "model_version"] == scoring.SEGMENT_POPULARITY_VERSION
    assert by_user.loc["cold-plain", "strategy"] == "popularity"
    assert by_user.loc["cold-plain", "model_version"] == scoring.POPULARITY_VERSION
    warm = by_user.drop(index=["cold-seg", "cold-plain"])
    # Warm users get the policy training chose to serve (the model, or a baseline that beat it
    # on this tiny shop), labelled with it.
    strategy, _ = recommender.served_policy(load_artefact(registry.champion("recommender").artefact_uri))
    assert set(warm["strategy"]) == {strategy}
    assert set(warm["model_version"]) == {result.version}
    assert recs["model_version"].notna().all()

    # The segment list is popularity among the segment's users only.
    inter = recommender.interactions_from_frames(
        read_frame("SELECT * FROM marts.fct_events"), pd.DataFrame(), CFG)
    seg_users = {f"u{i:03d}" for i in range(10)} | {"cold-seg"}
    expected = recommender.popularity(inter[inter["user_id"].isin(seg_users)],
                                      AS_OF - timedelta(days=CFG.popularity_days), AS_OF)
    assert recs.loc[recs["user_id"] == "cold-seg", "item_id"].tolist() == expected.index[:10].tolist()
    everyone = recommender.popularity(inter, AS_OF - timedelta(days=CFG.popularity_days), AS_OF)
    assert recs.loc[recs["user_id"] == "cold-plain", "item_id"].tolist() == everyone.index[:10].tolist()
    assert len(events["user_id"].unique()) + 2 == recs["user_id"].nunique()


def test_without_segments_cold_users_get_global_popularity(isolated_home) -> None:
    _load_events()
    recommender.train(D, "train-1", CFG)
    recs, _ = scoring.build_recommendations(D)
    cold = recs[recs["user_id"].isin(["cold-seg", "cold-plain"])]
    assert set(cold["strategy"]) == {"popularity"}
    assert set(cold["model_version"]) == {scoring.POPULARITY_VERSION}


def test_partition_is_replaced_not_appended(isolated_home) -> None:
    _load_events()
    recommender.train(D, "train-1", CFG)
    n = scoring.score_recommendations(D, "run-1")
    first = read_frame("SELECT * FROM serving.recommendations ORDER BY user_id, rank")
    assert n == len(first) == 10 * first["user_id"].nunique()
    assert first["model_version"].notna().all()
    assert set(first["run_id"]) == {"run-1"}
    assert scoring.score_recommendations(D + timedelta(days=1), "run-2") > 0
    assert scoring.score_recommendations(D, "run-1") == n
    again = read_frame("SELECT * FROM serving.recommendations WHERE as_of_date = :d ORDER BY user_id, rank",
                       {"d": D})
    pd.testing.assert_frame_equal(first, again)
    counts = read_frame("SELECT as_of_date, COUNT(*) AS n FROM serving.recommendations GROUP BY 1 ORDER BY 1")
    assert counts["n"].tolist()[0] == n
    assert len(counts) == 2


def test_segments_absent_or_without_column_are_empty(isolated_home) -> None:
    assert scoring.user_segments(D).empty
    profile = pd.DataFrame({"user_id": ["u1"], "recency_days": [1.0], "as_of_date": [D],
                            "as_of_hour": pd.Series([None], dtype="datetime64[ns]")})
    replace_partition(scoring.SEGMENT_TABLE, profile, {"as_of_date": D, "as_of_hour": None}, column_types={"as_of_hour": "TIMESTAMP"})
    assert scoring.user_segments(D).empty
