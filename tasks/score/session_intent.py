"""Hourly session intent: p_purchase and browse/compare/buy for every session of the hour."""

from __future__ import annotations

import logging
from datetime import datetime

from tasks.score.common import check_hour, hourly_scored_at, load_champion, write_serving
from tasks.train.common import pick_device
from tasks.train.data import read_hourly_features
from tasks.train.session_intent import FEATURE_TABLE, MODEL_NAME, predict

log = logging.getLogger(__name__)

TABLE = "serving.session_intent"


def score_session_intent(as_of_hour: datetime, run_id: str) -> int:
    """Write the ``as_of_hour`` partition of serving.session_intent; returns rows written.

    An hour without sessions writes an empty partition (clearing any stale rows).
    """
    check_hour(as_of_hour)
    entry, art = load_champion(MODEL_NAME)
    frame = read_hourly_features(FEATURE_TABLE, as_of_hour)
    if not frame.empty:
        frame = frame.sort_values("session_id", kind="stable").reset_index(drop=True)
    scored = predict(art, frame, pick_device())
    scored["user_id"] = frame["user_id"].to_numpy() if len(frame) else []
    scored = scored.assign(as_of_date=as_of_hour.date(), as_of_hour=as_of_hour, model_version=entry.version,
                           run_id=run_id, scored_at=hourly_scored_at(as_of_hour))
    return write_serving(TABLE, scored, {"as_of_hour": as_of_hour})
