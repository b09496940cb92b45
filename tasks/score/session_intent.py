"""Hourly session intent: p_purchase, browse/compare/buy and the decision threshold per session.

The champion says which inputs it needs (``preprocessing.kind``):

* ``sequence``: the hour's ``features.session_features`` rows plus their events from
  ``marts.fct_events`` up to the hour's end (events before each session's first
  purchase only, as in training);
* ``features``: the same rows without events (trained where fct_events was unreadable);
* ``summaries``: ``marts.fct_session_summaries`` rows that started in the hour.

Every row carries ``model_version``, ``threshold`` (the validation-chosen cut that
makes ``intent = 'buy'``) and the partition columns; a re-run replaces the hour.
``threshold`` reaches the table because ``serving.session_intent`` declares it in
``tasks/score/schema.py`` (write_serving keeps exactly the declared columns).
"""

from __future__ import annotations

import logging
from datetime import datetime

import pandas as pd

from tasks.features.windows import SESSION_MAX_SPAN
from tasks.score.common import check_hour, hourly_scored_at, load_serving_model, write_serving
from tasks.train.common import pick_device
from tasks.train.data import read_hourly_features
from tasks.train.session_intent import FEATURE_TABLE, predict, read_events, read_summaries

log = logging.getLogger(__name__)

TABLE = "serving.session_intent"


def intent_rows(art_kind: str, as_of_hour: datetime) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(session rows, events or None) to score for the hour, ordered by session_id."""
    end = hourly_scored_at(as_of_hour)
    events: pd.DataFrame | None = None
    if art_kind in ("sequence", "features"):
        frame = read_hourly_features(FEATURE_TABLE, as_of_hour)
        if art_kind == "sequence":
            events = read_events(frame["session_id"].to_numpy() if len(frame) else [],
                                 as_of_hour - SESSION_MAX_SPAN, end)
    else:
        frame, events = read_summaries(as_of_hour, end), None
    if not frame.empty:
        frame = frame.sort_values("session_id", kind="stable").reset_index(drop=True)
    return frame, events


def score_session_intent(as_of_hour: datetime, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_hour`` partition of serving.session_intent; returns rows written.

    An hour without sessions writes an empty partition (clearing any stale rows). An hour
    scored before is scored with the version that served it, unless ``rescore``.
    """
    check_hour(as_of_hour)
    entry, art = load_serving_model(TABLE, as_of_hour, rescore=rescore)
    frame, events = intent_rows(art.preprocessing.get("kind", "features"), as_of_hour)
    scored = predict(art, frame, pick_device(), events)
    scored["user_id"] = frame["user_id"].to_numpy() if len(frame) else []
    scored = scored.assign(as_of_date=as_of_hour.date(), as_of_hour=as_of_hour, model_version=entry.version,
                           run_id=run_id, scored_at=hourly_scored_at(as_of_hour))
    return write_serving(TABLE, scored, {"as_of_hour": as_of_hour}, model_version=entry.version, run_id=run_id)
