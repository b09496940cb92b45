"""Price recommendations: per product the current price, a guardrailed recommended price,
the elasticity behind it (with its standard error), expected daily units and revenue at both
prices, the action (raise | lower | keep) and a readable reason.

The served version is the pricing champion (the learned hierarchical elasticity or a
baseline slope that beat it on the holdout); ``model_version`` names it on every row. The
prices are read as of ``as_of_date`` (price changes published before its 00:00), so a re-run
writes the same rows.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from tasks.score.common import daily_scored_at, load_serving_model, write_serving
from tasks.train.common import Artefact, config_from_dict
from tasks.train.pricing import FEATURE_TABLE, PricingConfig, recommendation_frame
from tasks.train.pricing.data import read_panel
from tasks.train.registry import RegistryEntry

log = logging.getLogger(__name__)

TABLE = "serving.price_recommendations"


def recommendations(entry: RegistryEntry, art: Artefact, as_of_date: date, run_id: str) -> pd.DataFrame:
    """The partition's rows from one registered version."""
    cfg = config_from_dict(PricingConfig, art.config)
    panel, found, _ = read_panel(as_of_date, cfg.max_history_days)
    if panel is None:
        raise RuntimeError(f"no {FEATURE_TABLE} partition at or before {as_of_date}: run the features first")
    out = recommendation_frame(art, panel)
    return out.assign(as_of_date=as_of_date, model_version=entry.version, run_id=run_id,
                      scored_at=daily_scored_at(as_of_date)).sort_values("product_id")


def build_price_recommendations(as_of_date: date, run_id: str, *, rescore: bool = False) -> pd.DataFrame:
    return recommendations(*load_serving_model(TABLE, as_of_date, rescore=rescore), as_of_date, run_id)


def score_price_recommendations(as_of_date: date, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_date`` partition of serving.price_recommendations; returns rows written.

    Point-in-time: a partition scored before is scored with the version that served it,
    unless ``rescore`` (tasks/score/serving_versions.py)."""
    entry, art = load_serving_model(TABLE, as_of_date, rescore=rescore)
    frame = recommendations(entry, art, as_of_date, run_id)
    log.info("%s %s: %s", TABLE, as_of_date, frame["action"].value_counts().to_dict())
    return write_serving(TABLE, frame, {"as_of_date": as_of_date}, model_version=entry.version, run_id=run_id)
