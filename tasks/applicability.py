"""Which feature sets, models, scorers and output checks apply to the loaded data.

ecomflow runs the same DAGs on any shop data mapped into the canonical schema: a
clickstream has events but no payments, a card-transaction set has payments only, a
daily-sales set has neither. Each step states the raw entities it needs (any one of
them is enough); a step whose inputs were never loaded is skipped with this reason
instead of failing on empty data. The decision looks at the warehouse (has the entity
any rows before the as-of instant?), not at a source declaration, so it also holds for
mapping files nobody has seen before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

import sqlalchemy as sa

from tasks.score.pipeline import SCORER_MODEL
from tasks.warehouse import connect, qualified, session
from tasks.warehouse.io import table_columns

# step -> raw entities of which at least one must have rows
FEATURE_INPUTS: dict[str, tuple[str, ...]] = {
    "user_profile": ("events", "order_lines"),
    "user_segments": ("events", "order_lines"),  # K-means on user_profile (tasks/train/segments.py)
    "item_features": ("events", "order_lines"),
    "session_features": ("events",),
    "transaction_velocity": ("transactions",),
    "daily_item_sales": ("order_lines", "daily_sales"),
}
MODEL_INPUTS: dict[str, tuple[str, ...]] = {
    "recommender": ("events", "order_lines"),
    "session_intent": ("events", "sessions"),  # event sequences, or session aggregates (Online Shoppers)
    "demand_forecaster": ("order_lines", "daily_sales"),
    "risk": ("transactions",),
    # Sales with prices; a source with sales but no price (or no price change) is skipped by the
    # recipe itself with that reason (tasks/train/pricing/recipe.py check_trainable).
    "pricing": ("order_lines", "daily_sales"),
    "campaign_uplift": ("campaign_exposures",),  # randomised past campaigns (tasks/train/uplift)
    "search_ranker": ("search_impressions",),  # shown/clicked search results (tasks/train/search_ranker)
    "inventory_policy": ("order_lines", "daily_sales"),  # demand; and stock snapshots (MODEL_ALSO_NEEDS)
}
# model -> raw entities that must *each* have rows too (on top of one of MODEL_INPUTS): a
# replenishment policy needs sales to replay and stock to replenish.
MODEL_ALSO_NEEDS: dict[str, tuple[str, ...]] = {
    "inventory_policy": ("inventory",),
}
MART_INPUTS: dict[str, tuple[str, ...]] = {
    "dim_users": ("users", "order_lines", "events", "transactions"),
    "dim_products": ("products", "order_lines", "events"),
    "fct_events": ("events",),
    "fct_order_lines": ("order_lines",),
    "fct_transactions": ("transactions",),
    "fct_session_summaries": ("sessions",),
    "fct_daily_item_sales": ("order_lines", "daily_sales"),
}
TIME_COLUMNS = {"events": "event_at", "order_lines": "ordered_at", "transactions": "transaction_at",
                "daily_sales": "sales_date", "users": "signup_at", "products": "created_at",
                "sessions": "started_at", "campaign_exposures": "reported_at",
                "search_impressions": "searched_at", "inventory": "snapshot_at"}


#: Inside ``remembered_lookups``: (entity, before) -> has rows, so a GX gate whose suites all ask
#: about the same raw tables opens the warehouse once per table, not once per suite and table.
_HAS_ROWS: ContextVar[dict[tuple[str, datetime], bool] | None] = ContextVar("_HAS_ROWS", default=None)


@contextmanager
def remembered_lookups() -> Iterator[None]:
    """Answer each (entity, as-of) question once inside the block.

    For a block over which raw does not change (one gate of one run: the raw tables were
    loaded by earlier tasks). Outside a block every call looks again.
    """
    if _HAS_ROWS.get() is not None:
        yield
        return
    token = _HAS_ROWS.set({})
    try:
        yield
    finally:
        _HAS_ROWS.reset(token)


def _has_rows(entity: str, before: datetime) -> bool:
    memo = _HAS_ROWS.get()
    if memo is not None and (entity, before) in memo:
        return memo[(entity, before)]
    table = f"raw.{entity}"
    with connect() as conn:  # one open of the warehouse for both questions (DuckDB: ~10-20 ms each)
        found = table_columns(conn, table) is not None and conn.execute(sa.text(
            f"SELECT 1 AS one FROM {qualified(table)} WHERE {TIME_COLUMNS[entity]} < :t LIMIT 1"),
            {"t": before}).first() is not None
    if memo is not None:
        memo[(entity, before)] = found
    return found


def _reason(step: str, needs: tuple[str, ...], before: datetime) -> str | None:
    if any(_has_rows(e, before) for e in needs):
        return None
    return (f"{step} is skipped: it needs rows in {' or '.join(f'raw.{e}' for e in needs)} before "
            f"{before:%Y-%m-%d %H:%M}, and the configured source loaded none")


def _model_reason(step: str, model: str, before: datetime) -> str | None:
    """One of the model's MODEL_INPUTS, and every entity of its MODEL_ALSO_NEEDS."""
    reason = _reason(step, MODEL_INPUTS[model], before)
    for entity in MODEL_ALSO_NEEDS.get(model, ()):
        reason = reason or _reason(step, (entity,), before)
    return reason


def skip_reason(kind: str, name: str, before: datetime) -> str | None:
    """None when the step applies, else a one-line reason for the task log.

    Its handful of table and row checks share one DuckDB instance (``warehouse.session``): most
    tasks of a DAG run start with this, and each lone connect built and dropped the database."""
    with session():
        return _skip_reason(kind, name, before)


def _skip_reason(kind: str, name: str, before: datetime) -> str | None:
    if kind == "feature":
        return _reason(f"feature set {name}", FEATURE_INPUTS[name], before)
    if kind == "mart":
        return _reason(f"mart {name}", MART_INPUTS[name], before)
    if kind == "model":
        return _model_reason(f"model {name}", name, before)
    if kind == "scorer":
        model = SCORER_MODEL[name]
        return _model_reason(f"scorer {name} (model {model})", model, before)
    raise ValueError(f"unknown step kind {kind!r}")


# Scorers that have a documented fallback when no model could be trained.
SCORERS_WITH_FALLBACK = {"risk_labels"}


def has_champion(model: str) -> bool:
    with connect() as conn:
        return table_columns(conn, "ml.model_registry") is not None and conn.execute(sa.text(
            "SELECT 1 AS one FROM ml.model_registry WHERE model = :m AND status = 'champion' LIMIT 1"),
            {"m": model}).first() is not None


def suite_skip_reason(suite: str, before: datetime) -> str | None:
    """Mart, feature and serving suites follow the step that fills their table."""
    if suite.startswith("marts_") and suite[len("marts_"):] in MART_INPUTS:
        return skip_reason("mart", suite[len("marts_"):], before)
    if suite.startswith("features_") and suite[len("features_"):] in FEATURE_INPUTS:
        return skip_reason("feature", suite[len("features_"):], before)
    if suite.startswith("serving_") and suite[len("serving_"):] in SCORER_MODEL:
        scorer = suite[len("serving_"):]
        reason = skip_reason("scorer", scorer, before)
        if reason is None and scorer not in SCORERS_WITH_FALLBACK and not has_champion(SCORER_MODEL[scorer]):
            reason = (f"no champion {SCORER_MODEL[scorer]} model exists (its training was skipped; "
                      f"the train.{SCORER_MODEL[scorer]} task log of ecomflow_daily says why)")
        return reason
    return None
