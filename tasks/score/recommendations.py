"""Daily top-10 recommendations for every user active in the last 90 days.

Users whose history holds at least one item the champion knows get the model's
top 10; the others (new users, or only unknown items) get the current
popularity list, marked ``model_version = 'popularity-v1'`` so serving rows say
honestly which policy produced them. Nothing is excluded yet (already-bought
items may be recommended again); later issues add business filters.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np

from tasks.score.common import daily_scored_at, load_champion, write_serving
from tasks.train.common import as_of_instant, pick_device
from tasks.train.data import read_interactions
from tasks.train.recommender import MODEL_NAME, interactions_from_frames, load_model, popularity, recommend

log = logging.getLogger(__name__)

TABLE = "serving.recommendations"
ACTIVE_DAYS = 90
TOP_K = 10
POPULARITY_VERSION = "popularity-v1"


def score_recommendations(as_of_date: date, run_id: str) -> int:
    """Write the ``as_of_date`` partition of serving.recommendations; returns rows written."""
    entry, art = load_champion(MODEL_NAME)
    device = pick_device()
    model, vocab, cfg = load_model(art, device)
    end = as_of_instant(as_of_date)
    events, lines = read_interactions(end - timedelta(days=max(ACTIVE_DAYS, cfg.lookback_days)), end)
    inter = interactions_from_frames(events, lines, cfg)
    active = sorted(inter.loc[inter["ts"] >= end - timedelta(days=ACTIVE_DAYS), "user_id"].unique())
    pop = popularity(inter, end - timedelta(days=cfg.popularity_days), end)
    recs = recommend(model, vocab, cfg, inter, active, pop, device, TOP_K)
    recs["model_version"] = np.where(recs["source"] == "model", entry.version, POPULARITY_VERSION)
    recs["as_of_date"] = as_of_date
    recs["run_id"] = run_id
    recs["scored_at"] = daily_scored_at(as_of_date)
    recs = recs.sort_values(["user_id", "rank"], kind="stable")
    log.info("recommendations %s: %d active users (%d via popularity) with %s", as_of_date, len(active),
             int((recs["source"] == "popularity").sum() // max(TOP_K, 1)), entry.version)
    return write_serving(TABLE, recs, {"as_of_date": as_of_date})
