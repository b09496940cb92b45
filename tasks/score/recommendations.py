"""Daily top-10 recommendations for every user active in the last 90 days.

Users whose history holds at least one item the champion knows get the champion's
*served policy* (minus their history when the champion's ``exclude_seen`` is on):
the learned hybrid (``strategy`` ``model``), or, when the version's training found
a baseline better than the learned model on the holdout, that baseline
(``item_knn``, ``session_knn``, ``ease`` or ``popularity``; rebuilt here from the
interactions before the list's instant, exactly as it was evaluated). Their rows'
``model_version`` is the champion's registry version (``recommender-baseline_<name>-...``
for a served baseline). The
others (new users, or only unknown items) get a popularity list: the popularity
of their K-means segment when ``features.user_profile`` has a ``segment`` for
them and that segment interacted with something in the popularity window, else
global popularity. Rows say honestly which policy produced them:
``model_version`` is the champion version, ``segment-popularity-v1`` or
``popularity-v1``, and the frame's ``strategy`` column is ``model``,
``segment_popularity`` or ``popularity`` (published once ``serving.recommendations``
declares the column in ``tasks/score/schema.py``).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import pandas as pd

from tasks.score.common import SERVING_SCHEMAS, daily_scored_at, load_serving_model, write_serving
from tasks.train.common import as_of_instant, pick_device
from tasks.train.data import read_daily_features, read_interactions
from tasks.train.recommender import (
    interactions_from_frames,
    load_model,
    policy_ranker,
    popularity,
    recommend,
    served_policy,
)

log = logging.getLogger(__name__)

TABLE = "serving.recommendations"
SEGMENT_TABLE = "features.user_segments"  # K-means segments (tasks/train/segments.py)
ACTIVE_DAYS = 90
TOP_K = 10
POPULARITY_VERSION = "popularity-v1"
SEGMENT_POPULARITY_VERSION = "segment-popularity-v1"
FALLBACK_VERSIONS = {"popularity": POPULARITY_VERSION, "segment_popularity": SEGMENT_POPULARITY_VERSION}


def user_segments(as_of_date: date) -> pd.Series:
    """user_id -> segment from the newest ``features.user_segments`` partition <= as_of_date
    (empty when the table does not exist yet, e.g. a source without user activity)."""
    profile, _ = read_daily_features(SEGMENT_TABLE, as_of_date)
    if profile.empty or "segment" not in profile.columns:
        return pd.Series(dtype=str)
    seg = profile.dropna(subset=["segment"])
    return pd.Series(seg["segment"].astype(str).to_numpy(), index=seg["user_id"].astype(str).to_numpy())


def fallback_lists(inter: pd.DataFrame, segments: pd.Series, start: datetime,
                   end: datetime) -> dict[str, pd.Series]:
    """``popularity`` plus one ``segment_popularity:<segment>`` list per segment with activity."""
    lists = {"popularity": popularity(inter, start, end)}
    if not segments.empty:
        seg_of = inter["user_id"].map(segments)
        for seg, rows in inter[seg_of.notna()].groupby(seg_of[seg_of.notna()]):
            pop = popularity(rows, start, end)
            if not pop.empty:
                lists[f"segment_popularity:{seg}"] = pop
    return lists


def build_recommendations(as_of_date: date, *, rescore: bool = False) -> tuple[pd.DataFrame, str]:
    """The rows of the ``as_of_date`` partition (before run metadata) and the serving version:
    the one that served the partition before (point-in-time), else or with ``rescore`` the champion."""
    entry, art = load_serving_model(TABLE, as_of_date, rescore=rescore)
    device = pick_device()
    model, vocab, cfg = load_model(art, device)
    end = as_of_instant(as_of_date)
    events, lines = read_interactions(end - timedelta(days=max(ACTIVE_DAYS, cfg.lookback_days)), end)
    inter = interactions_from_frames(events, lines, cfg)
    active = sorted(inter.loc[inter["ts"] >= end - timedelta(days=ACTIVE_DAYS), "user_id"].unique())
    segments = user_segments(as_of_date)
    lists = fallback_lists(inter, segments, end - timedelta(days=cfg.popularity_days), end)
    user_list = {u: f"segment_popularity:{segments[u]}" for u in active if u in segments.index
                 and f"segment_popularity:{segments[u]}" in lists}
    strategy, fusion = served_policy(art)
    ranker = policy_ranker(strategy, model, vocab, cfg, fusion, inter, end, device)
    # "served:" marks the champion's rows (a served popularity baseline must not be mistaken
    # for the cold-start popularity fallback, which has its own version label).
    recs = recommend(ranker, vocab, cfg, inter, active, end, lists, device, TOP_K, user_list,
                     strategy=f"served:{strategy}")
    served = recs["strategy"].str.startswith("served:")
    recs["strategy"] = recs["strategy"].where(~served, strategy).str.split(":").str[0]
    recs["model_version"] = recs["strategy"].map(FALLBACK_VERSIONS).where(~served, entry.version)
    counts = recs.drop_duplicates("user_id")["strategy"].value_counts().to_dict()
    log.info("recommendations %s: %d active users by strategy %s with %s", as_of_date, len(active), counts,
             entry.version)
    return recs.sort_values(["user_id", "rank"], kind="stable").reset_index(drop=True), entry.version


def score_recommendations(as_of_date: date, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_date`` partition of serving.recommendations; returns rows written."""
    recs, version = build_recommendations(as_of_date, rescore=rescore)
    recs = recs.assign(as_of_date=as_of_date, run_id=run_id, scored_at=daily_scored_at(as_of_date))
    if "strategy" not in SERVING_SCHEMAS[TABLE]:
        log.debug("%s has no strategy column yet; model_version carries the strategy", TABLE)
    return write_serving(TABLE, recs, {"as_of_date": as_of_date}, model_version=version, run_id=run_id)
