"""Hourly risk labels for every transaction of the hour.

Uses the ``risk`` champion when one exists; otherwise (e.g. sources without
fraud labels, where training is skipped) the documented rules in
``tasks.train.risk`` with ``model_version = 'rules-v1'``. Point-in-time like every scorer:
an hour scored before is scored again with what served it (a model version or
``rules-v1``), unless ``rescore`` is asked for.
"""

from __future__ import annotations

import logging
from datetime import datetime

from tasks.score.common import check_hour, hourly_scored_at, serving_version, write_serving
from tasks.train.common import load_artefact, pick_device
from tasks.train.data import read_hourly_features
from tasks.train.registry import version_entry
from tasks.train.risk import FEATURE_TABLE, MODEL_NAME, RULES_VERSION, predict, rules_decisions

log = logging.getLogger(__name__)

TABLE = "serving.risk_labels"


def score_risk(as_of_hour: datetime, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_hour`` partition of serving.risk_labels; returns rows written."""
    check_hour(as_of_hour)
    frame = read_hourly_features(FEATURE_TABLE, as_of_hour)
    if not frame.empty:
        frame = frame.sort_values("transaction_id", kind="stable").reset_index(drop=True)
    version = serving_version(TABLE, as_of_hour, rescore=rescore) or RULES_VERSION
    if version == RULES_VERSION:
        log.warning("risk: no champion in ml.model_registry for this hour; scoring with %s", RULES_VERSION)
        scored = rules_decisions(frame)
    else:
        scored = predict(load_artefact(version_entry(MODEL_NAME, version).artefact_uri), frame, pick_device())
    scored["user_id"] = frame["user_id"].to_numpy() if len(frame) else []
    scored = scored.assign(as_of_date=as_of_hour.date(), as_of_hour=as_of_hour, model_version=version,
                           run_id=run_id, scored_at=hourly_scored_at(as_of_hour))
    return write_serving(TABLE, scored, {"as_of_hour": as_of_hour}, model_version=version, run_id=run_id)
