"""What every scorer shares: which model version serves a partition, serving schemas,
logical timestamps.

``scored_at`` is derived from the run's logical time, never the wall clock, so
re-running a partition writes byte-identical rows: for daily tables it is the
as_of instant (``as_of_date`` 00:00), for hourly tables the end of the scored
hour (``as_of_hour + 1h``, the instant the hour's data is complete).

The model version is point-in-time (``tasks/score/serving_versions.py``): a partition
scored before is scored again with the version recorded for it, not with today's
champion, unless the caller asks for ``rescore``. ``write_serving`` records the version
in the same transaction as the rows.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from tasks.score import serving_versions
from tasks.score.pipeline import SCORER_MODEL
from tasks.train.common import Artefact, as_of_instant, load_artefact
from tasks.train.registry import RegistryEntry, champion, version_entry
from tasks.warehouse import connect, replace_partition

log = logging.getLogger(__name__)

_TAIL_DAILY = {"as_of_date": "DATE", "model_version": "TEXT", "run_id": "TEXT", "scored_at": "TIMESTAMP"}
_TAIL_HOURLY = {"as_of_date": "DATE", "as_of_hour": "TIMESTAMP", "model_version": "TEXT", "run_id": "TEXT",
                "scored_at": "TIMESTAMP"}

# Column order and SQL types of the serving tables (docs/CONTRACTS.md).
SERVING_SCHEMAS: dict[str, dict[str, str]] = {
    "serving.recommendations": {"user_id": "TEXT", "item_id": "TEXT", "rank": "BIGINT",
                                "score": "DOUBLE PRECISION", "strategy": "TEXT", **_TAIL_DAILY},
    "serving.demand_forecasts": {"item_id": "TEXT", "forecast_date": "DATE", "p10": "DOUBLE PRECISION",
                                 "p50": "DOUBLE PRECISION", "p90": "DOUBLE PRECISION",
                                 "price_p50": "DOUBLE PRECISION", **_TAIL_DAILY},
    "serving.session_intent": {"session_id": "TEXT", "user_id": "TEXT", "p_purchase": "DOUBLE PRECISION",
                               "intent": "TEXT", "threshold": "DOUBLE PRECISION", **_TAIL_HOURLY},
    "serving.campaign_audiences": {"campaign_id": "TEXT", "campaign_name": "TEXT", "channel": "TEXT",
                                   "user_id": "TEXT", "segment": "TEXT", "expected_uplift": "DOUBLE PRECISION",
                                   "propensity": "DOUBLE PRECISION", "rank": "BIGINT", "reason": "TEXT",
                                   **_TAIL_DAILY},
    "serving.inventory_actions": {
        "product_id": "TEXT", "category": "TEXT", "stock_on_hand": "DOUBLE PRECISION", "on_order": "DOUBLE PRECISION",
        "inventory_position": "DOUBLE PRECISION", "lead_time_days": "BIGINT", "review_days": "BIGINT",
        "protection_days": "BIGINT", "pack_size": "BIGINT", "moq": "BIGINT", "demand_mean": "DOUBLE PRECISION",
        "demand_std": "DOUBLE PRECISION", "service_level": "DOUBLE PRECISION", "safety_stock": "DOUBLE PRECISION",
        "reorder_point": "DOUBLE PRECISION", "order_quantity": "DOUBLE PRECISION", "p_stockout": "DOUBLE PRECISION",
        "days_of_cover": "DOUBLE PRECISION", "action": "TEXT", "reason": "TEXT", "demand_source": "TEXT",
        "policy": "TEXT", **_TAIL_DAILY},
    "serving.risk_labels": {"transaction_id": "TEXT", "user_id": "TEXT", "risk_score": "DOUBLE PRECISION",
                            "label": "TEXT", "action": "TEXT", "reasons": "TEXT", **_TAIL_HOURLY},
    "serving.price_recommendations": {
        "product_id": "TEXT", "category": "TEXT", "current_price": "DOUBLE PRECISION",
        "recommended_price": "DOUBLE PRECISION", "price_change_pct": "DOUBLE PRECISION",
        "elasticity": "DOUBLE PRECISION", "elasticity_se": "DOUBLE PRECISION",
        "expected_units_current": "DOUBLE PRECISION", "expected_units_recommended": "DOUBLE PRECISION",
        "expected_revenue_current": "DOUBLE PRECISION", "expected_revenue_recommended": "DOUBLE PRECISION",
        "objective": "TEXT", "action": "TEXT", "reason": "TEXT", **_TAIL_DAILY},
    "serving.search_rankings": {"segment": "TEXT", "query": "TEXT", "rank": "BIGINT", "product_id": "TEXT",
                                "score": "DOUBLE PRECISION", **_TAIL_DAILY},
    "serving.user_category_affinity": {"user_id": "TEXT", "category": "TEXT", "affinity": "DOUBLE PRECISION",
                                       "lift": "DOUBLE PRECISION", "n_interactions": "BIGINT", "rank": "BIGINT",
                                       **_TAIL_DAILY},
}


class NoChampionError(RuntimeError):
    """Scoring was asked for a model that has never been trained and promoted."""


def scorer_of(table: str) -> str:
    """``serving.<scorer>`` -> ``<scorer>`` (the serving table is named after its scorer)."""
    scorer = table.split(".", 1)[1]
    if scorer not in SCORER_MODEL:
        raise ValueError(f"{table} is not a scorer's serving table; known: {sorted(SCORER_MODEL)}")
    return scorer


def serving_version(table: str, as_of: date | datetime, *, rescore: bool) -> str | None:
    """The version that must score ``table``'s partition at ``as_of``: the one recorded for the
    partition (point-in-time), or the model's current champion when the partition was never
    scored or ``rescore`` is asked for; None when neither exists."""
    scorer = scorer_of(table)
    partition = serving_versions.partition_of(as_of)
    if not rescore:
        recorded = serving_versions.recorded_version(scorer, partition)
        if recorded is not None:
            log.info("%s %s: scoring with %s, the version that served it (point-in-time; "
                     "re-score explicitly to use the champion)", scorer, partition.label, recorded)
            return recorded
    entry = champion(SCORER_MODEL[scorer])
    return None if entry is None else entry.version


def load_serving_model(table: str, as_of: date | datetime, *, rescore: bool) -> tuple[RegistryEntry, Artefact]:
    """The registry row and artefact of ``serving_version``; a clear error when there is none."""
    model = SCORER_MODEL[scorer_of(table)]
    version = serving_version(table, as_of, rescore=rescore)
    if version is None:
        raise NoChampionError(
            f"no champion for {model!r} in ml.model_registry: run ecomflow_daily first to train {model}"
        )
    entry = version_entry(model, version)
    return entry, load_artefact(entry.artefact_uri)


def daily_scored_at(as_of_date: date) -> datetime:
    return as_of_instant(as_of_date)


def check_hour(as_of_hour: datetime) -> datetime:
    """Hourly partitions are keyed by the hour's start; anything else is a caller bug."""
    if (as_of_hour.minute, as_of_hour.second, as_of_hour.microsecond) != (0, 0, 0) or as_of_hour.tzinfo:
        raise ValueError(f"as_of_hour must be a naive UTC hour start, got {as_of_hour!r}")
    return as_of_hour


def hourly_scored_at(as_of_hour: datetime) -> datetime:
    return as_of_hour + timedelta(hours=1)


def write_serving(table: str, frame: pd.DataFrame, partition: dict[str, Any], *, model_version: str,
                  run_id: str) -> int:
    """Replace one partition of a serving table with ``frame`` (exact contract columns,
    fixed types even when the frame is empty) and record ``model_version`` as the version that
    served it, in one transaction. Returns rows written."""
    schema = SERVING_SCHEMAS[table]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: scorer produced no column(s) {missing}")
    out = frame[list(schema)].copy()
    for col, typ in schema.items():
        if typ == "TIMESTAMP":
            out[col] = pd.to_datetime(out[col])
        elif typ == "DOUBLE PRECISION":
            out[col] = pd.to_numeric(out[col]).astype(float)
        elif typ == "BIGINT":
            out[col] = pd.to_numeric(out[col]).astype("int64")
        elif typ == "TEXT":
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    out = out.reset_index(drop=True)
    as_of = partition.get("as_of_hour", partition.get("as_of_date"))
    scorer = scorer_of(table)
    with connect() as conn:
        n = replace_partition(table, out, partition, column_types=schema, conn=conn)
        serving_versions.record(scorer, SCORER_MODEL[scorer], serving_versions.partition_of(as_of),
                                model_version, run_id, conn)
    log.info("%s %s: wrote %d rows", table, partition, n)
    return n
