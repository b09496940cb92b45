"""The Spark feature tables: each ``features.*`` table's contract, declared once.

This module is the one declaration of the columns of every table in schema ``features`` that a
Spark feature job writes (``tasks/features/<set>.py``, published by ``tasks/features/publish.py``):
names in the order the job writes them, types, nullability, value bounds with their reason and
descriptions. What the job *is* stays in ``tasks/features/catalogue.py`` (``FEATURE_JOBS``: key,
cadence, inputs, description) and is read from there, not repeated: the table's key is the job's
``key``, and a column the job documents in ``FeatureJob.definitions`` takes that text as its
description (declaring a second description for it is an error). ``python -m
tasks.contracts.generate`` writes from it

- the generated part of each GX suite ``expectations/features_<set>.yml``
  (``gx_features_suites``): column set, not-null, key uniqueness, bounds, the boolean value set;
- ``docs/feature_schema.md`` (``feature_schema_doc``);

``publish_feature_set`` checks each run's Parquet against it before the warehouse write
(``check_output``: column names in order, warehouse types), and
``tests/test_feature_contracts_declared_once.py`` fails when a derived file drifts or a real
Spark job's output stops matching.

``features.user_segments`` is not declared here: ``tasks/train/segments.py`` writes it (K-means on
``user_profile``), no Spark job, and no GX suite gates it; it is declared with the operational
tables in ``tasks/contracts/operations_schema.py``.

The column class is the marts' (``MartColumn``: the serving column's bounds and reason, and a
nullable ``int`` is allowed since ``publish`` writes pandas' nullable ``Int64``), plus
``null_why``: why a not-null column must never be null, the GX not-null expectation's ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from tasks.contracts.columns import ColumnLookup, column_factory, table_lookup
from tasks.contracts.marts_schema import MartColumn
from tasks.features.catalogue import FEATURE_JOBS, FeatureJob
from tasks.features.windows import (
    ACTIVITY_DAYS,
    DAILY_ROW_WINDOW_DAYS,
    ORDER_HISTORY_DAYS,
    RFM_DAYS,
    SALES_DAYS,
    TXN_HISTORY_DAYS,
)


@dataclass(frozen=True)
class FeatureColumn(MartColumn):
    """A mart column plus the reason it is never null (``null_why``, only on a not-null column)."""

    null_why: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.null_why and self.nullable:
            raise ValueError(f"column {self.name!r}: null_why on a nullable column")


# Every row carries its run (``tasks.features.lake_io.with_run_columns``); the table's partition.
RUN_COLUMNS: tuple[FeatureColumn, ...] = (
    FeatureColumn("as_of_date", "date", False, "Partition: the run's day (data strictly before as_of_date "
                  "00:00 for a daily run; the scored hour's day for an hourly run)."),
    FeatureColumn("as_of_hour", "timestamp", True, "Partition: start of the scored UTC hour of an hourly run; "
                  "null for a daily run."),
)


@dataclass(frozen=True)
class FeatureTable(ColumnLookup[FeatureColumn]):
    """One ``features.<name>`` table, partitioned by ``(as_of_date, as_of_hour)`` (``column_names``,
    ``required``, ``column(name)``: ``ColumnLookup``).

    ``columns`` are the job's own, in write order; ``all_columns`` adds the run columns.
    ``purpose``: who reads it, the GX suite's description. ``allow_empty``: whether an empty
    partition passes the gate; ``empty_note`` says why (a comment above the flag in the suite).
    """

    name: str
    description: str
    purpose: str
    columns: tuple[FeatureColumn, ...]
    allow_empty: bool = True
    empty_note: str = ""
    key_why: str = ""
    also_unique: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def job(self) -> FeatureJob:
        return FEATURE_JOBS[self.name]

    @property
    def key(self) -> tuple[str, ...]:
        """The job's key (``FEATURE_JOBS``), unique within a partition."""
        return self.job.key

    @property
    def qualified(self) -> str:
        return f"features.{self.name}"

    @property
    def partition_columns(self) -> tuple[str, ...]:
        return ("as_of_date", "as_of_hour")

    @property
    def all_columns(self) -> tuple[FeatureColumn, ...]:
        return (*self.columns, *RUN_COLUMNS)

    @property
    def _column_owner(self) -> str:
        return self.qualified

    @property
    def sql_types(self) -> dict[str, str]:
        """``{column: SQL type}`` in write order (``publish.sql_type`` of each Parquet column)."""
        return {c.name: c.sql_type for c in self.all_columns}


_c = column_factory(FeatureColumn)


def _documented(job_name: str, columns: Iterable[FeatureColumn]) -> tuple[FeatureColumn, ...]:
    """The columns, each one the catalogue defines taking that definition as its description."""
    definitions = FEATURE_JOBS[job_name].definitions
    out = []
    for column in columns:
        if column.name in definitions:
            if column.description:
                raise ValueError(f"features.{job_name}.{column.name}: described in FeatureJob.definitions "
                                 "(tasks/features/catalogue.py); do not describe it twice")
            column = replace(column, description=definitions[column.name])
        out.append(column)
    return tuple(out)


_COUNT: dict[str, object] = {"min_value": 0}
# Counts Spark fills with 0 when there was no activity (coalesce), never null.
_ZERO_FILLED = "Counts are 0, not null, without activity."


def _table(name: str, description: str, purpose: str, columns: Iterable[FeatureColumn], **kw: object) -> FeatureTable:
    return FeatureTable(name, description, purpose, _documented(name, columns), **kw)  # type: ignore[arg-type]


FEATURE_TABLES: dict[str, FeatureTable] = {
    t.name: t
    for t in (
        _table(
            "user_profile",
            f"One row per user (user_id) known by as_of: an account, an order in {ORDER_HISTORY_DAYS} days or "
            f"an event in {ACTIVITY_DAYS} days. RFM, {ACTIVITY_DAYS}-day activity and category affinity "
            "(recommender, segments, risk).",
            "Per-user features as of as_of_date (recommender and risk inputs).",
            (
                _c("user_id", "string", False, "User (key)."),
                _c("recency_days", "float", True, "Fractional days from the user's last non-cancelled order "
                   f"({ORDER_HISTORY_DAYS} days) to as_of; null without one.", min_value=0,
                   why="a negative recency means a purchase at/after as_of leaked into the features"),
                _c("frequency_90d", "int", False, f"Non-cancelled orders in {RFM_DAYS} days. " + _ZERO_FILLED, **_COUNT),
                _c("monetary_90d", "float", False),
                _c("avg_order_value", "float", True, "Mean value of the user's non-cancelled orders "
                   f"({ORDER_HISTORY_DAYS} days); null without one."),
                _c("n_events_30d", "int", False, f"Events in {ACTIVITY_DAYS} days.", **_COUNT),
                _c("n_sessions_30d", "int", False, f"Distinct sessions in {ACTIVITY_DAYS} days."),
                _c("n_purchases_30d", "int", False, f"Purchase events in {ACTIVITY_DAYS} days.", **_COUNT),
                _c("days_since_signup", "float", True, "Fractional days from sign-up to as_of; null when the "
                   "user has no account.", **_COUNT),
                _c("top_category", "string", True, f"Category of most of the user's {ACTIVITY_DAYS}-day events; null "
                   "without one."),
                _c("category_affinity", "string", False),
            ),
            allow_empty=False,
            empty_note="A daily feature run that produced no users means Spark read nothing: stop before "
                       "training/scoring.",
        ),
        _table(
            "item_features",
            "One row per product (product_id) listed before as_of or seen on an event or order line in the "
            f"{ACTIVITY_DAYS} days before it: prices, funnel counts and popularity over those days (recommender).",
            "Per-product features as of as_of_date (recommender and demand inputs).",
            (
                _c("product_id", "string", False, "Product (key)."),
                _c("category", "string", True),
                _c("price_mean_30d", "float", True),
                _c("price_min_30d", "float", True, "Lowest of those prices; null without any."),
                _c("price_max_30d", "float", True, "Highest of those prices; null without any."),
                _c("n_views_30d", "int", False, f"View events in {ACTIVITY_DAYS} days. " + _ZERO_FILLED, **_COUNT),
                _c("n_carts_30d", "int", False, f"Add-to-cart events in {ACTIVITY_DAYS} days."),
                _c("n_purchases_30d", "int", False, f"Purchase events in {ACTIVITY_DAYS} days."),
                _c("conversion_rate_30d", "float", True, min_value=0, max_value=1),
                _c("popularity_rank", "int", False, "1 = most popular: purchases, then units sold, carts, "
                   "views, product_id breaking ties (unique and stable across re-runs).", min_value=1),
                _c("n_orders_30d", "int", False, f"Distinct non-cancelled orders in {ACTIVITY_DAYS} days (order-line demand, "
                   "for sources without events)."),
                _c("units_sold_30d", "int", False, f"Units on non-cancelled order lines in {ACTIVITY_DAYS} days."),
            ),
            allow_empty=False,
        ),
        _table(
            "session_features",
            f"One row per session (session_id): daily, sessions started in [as_of - {DAILY_ROW_WINDOW_DAYS}d, "
            "as_of); hourly, "
            "sessions with events in the hour. Features from the events before the first purchase only; "
            "label has_purchase (session intent).",
            "Per-session features (events before the first purchase only) with label has_purchase.",
            (
                _c("session_id", "string", False),
                _c("user_id", "string", True, "First known user of the session; null when anonymous."),
                _c("session_start_at", "timestamp", True, "First event, UTC."),
                _c("n_events", "int", False, "Events before the first purchase (0 when the session starts "
                   "with a purchase: training drops those rows).", **_COUNT),
                _c("n_views", "int", False, "Views before the first purchase."),
                _c("n_carts", "int", False, "Add-to-carts before the first purchase."),
                _c("n_searches", "int", False, "Searches before the first purchase."),
                _c("n_distinct_products", "int", False, "Distinct products among the pre-purchase events."),
                _c("n_distinct_categories", "int", False),
                _c("duration_seconds", "float", False, "Seconds from the first to the last pre-purchase event "
                   "(0 with one).", **_COUNT),
                _c("mean_price_viewed", "float", True, "Mean price on the pre-purchase views; null without a "
                   "priced view."),
                _c("hour_of_day", "int", True, "UTC hour of session_start_at.", min_value=0, max_value=23),
                _c("day_of_week", "int", True, "Weekday of session_start_at, 0 = Monday .. 6 = Sunday.",
                   min_value=0, max_value=7,
                   why="accepts both Python (0-6) and Spark (1-7) weekday numbering"),
                _c("device", "string", True, "First known device of the session."),
                _c("has_purchase", "bool", False, "Label: the session has a purchase event."),
                _c("feature_cutoff_at", "timestamp", True, "Latest event the features saw; null when none came "
                   "before the purchase (the leakage guard checks feature_cutoff_at < label_at)."),
                _c("label_at", "timestamp", True, "When the label was known: the first purchase, else the "
                   "session's last event."),
            ),
            empty_note="Quiet hours and session-less sources legitimately produce no sessions.",
        ),
        _table(
            "transaction_velocity",
            "One row per payment attempt (transaction_id): daily, transactions in "
            f"[as_of - {DAILY_ROW_WINDOW_DAYS}d, as_of); hourly, the hour's. Velocity from the user's strictly "
            "earlier payments; label is_fraud (risk).",
            "Per-transaction velocity features (strictly prior transactions only) with label is_fraud.",
            (
                _c("transaction_id", "string", False, "Payment attempt (key)."),
                _c("user_id", "string", True, "Paying user."),
                _c("transaction_at", "timestamp", True, "Attempt time, UTC."),
                _c("amount", "float", True, "Amount charged (refunds and card tests <= 0 kept)."),
                _c("n_txn_1h", "int", False, "The user's earlier payments in 1 h.", **_COUNT),
                _c("n_txn_24h", "int", False, "The user's earlier payments in 24 h (>= n_txn_1h)."),
                _c("amount_sum_24h", "float", False, **_COUNT),
                _c("n_distinct_cards_24h", "int", False, "Distinct cards of the user's payments in 24 h."),
                _c("n_distinct_devices_7d", "int", False, "Distinct devices of the user's payments in 7 days."),
                _c("is_new_device", "bool", True, f"The device is not in the user's earlier history ({TXN_HISTORY_DAYS} days); "
                   "true without history."),
                _c("is_new_country", "bool", True, "The country is not in the user's earlier history "
                   f"({TXN_HISTORY_DAYS} days); true without history."),
                _c("amount_to_user_mean", "float", True),
                _c("seconds_since_prev_txn", "float", True, "Seconds since the user's previous payment "
                   f"({TXN_HISTORY_DAYS} days); null without one.", min_value=0,
                   why="zero/negative would mean the row itself or a later transaction was counted"),
                _c("account_age_days", "float", True, "Fractional days since sign-up; null when the user is "
                   "unknown."),
                _c("is_fraud", "bool", True, "Label: chargeback, when known."),
                _c("extra_features", "string", True),
                _c("feature_cutoff_at", "timestamp", True, "The user's latest earlier payment any feature saw "
                   "(the leakage guard checks feature_cutoff_at < transaction_at)."),
            ),
        ),
        _table(
            "daily_item_sales",
            "One row per product and day (product_id, sales_date), dense (zero-filled) for sales_date in "
            f"[as_of - {SALES_DAYS}d, as_of); from order lines (cancellations excluded) and the source's daily "
            "sales.",
            "Dense daily sales per product for [as_of - 90d, as_of) (demand forecasting input).",
            (
                _c("product_id", "string", False, "Product sold."),
                _c("sales_date", "date", False, "UTC day of the sales (before as_of_date)."),
                _c("units", "float", False, null_why="the set is zero-filled; a null is a hole in the dense "
                   "calendar"),
                _c("revenue", "float", False, "Revenue of the units whose price is known (0 without)."),
                _c("avg_price", "float", True),
                _c("n_orders", "int", False, "Distinct orders (0 for daily-total sources).", **_COUNT),
                _c("is_promo", "bool", False, "The source flagged the day, or a promotional price was in "
                   "effect."),
            ),
        ),
    )
}


def table(qualified: str) -> FeatureTable:
    """``features.<name>`` -> its declaration (a clear error for an undeclared table)."""
    return table_lookup(FEATURE_TABLES, "features", "feature table", "tasks/contracts/features_schema.py",
                        qualified)


class FeatureOutputMismatch(ValueError):
    """A feature job wrote columns (names, order or types) its declaration does not have."""


def check_output(name: str, columns: Iterable[tuple[str, str]]) -> None:
    """Raise ``FeatureOutputMismatch`` naming the table and column unless ``columns``
    (``(name, SQL type)`` in write order) are exactly the declared ones."""
    spec = table(f"features.{name}")
    got = list(columns)
    wanted = list(spec.sql_types.items())
    where = f"{spec.qualified} (declared in tasks/contracts/features_schema.py)"
    for position, (have, want) in enumerate(zip(got, wanted, strict=False)):
        if have[0] != want[0]:
            extra = have[0] not in spec.sql_types
            raise FeatureOutputMismatch(
                f"{where}: column {position + 1} is {have[0]!r}, declared {want[0]!r}"
                + (f" ({have[0]!r} is not declared)" if extra else " (columns out of order or missing)"))
        if have[1] != want[1]:
            raise FeatureOutputMismatch(f"{where}: column {have[0]!r} is {have[1]}, declared {want[1]}")
    if len(got) > len(wanted):
        raise FeatureOutputMismatch(f"{where}: column {got[len(wanted)][0]!r} is not declared")
    if len(got) < len(wanted):
        raise FeatureOutputMismatch(f"{where}: column {wanted[len(got)][0]!r} is missing from the job's output")
