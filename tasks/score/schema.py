"""The serving tables the scorers write: each ``serving.*`` table's contract, declared once.

This module is the one declaration of every table in schema ``serving`` that ``tasks/score``
writes: columns (in the order they are written), types, nullability, key (the grain within a
partition), other unique column sets, allowed values, value bounds and the description
(starting "One row per ..."). Everything else follows from it:

- ``write_serving`` (``tasks/score/common.py``) checks each scorer's frame against it before
  the write (``check_frame``: column set, types, nulls) and creates the table with its types;
- ``python -m tasks.contracts.generate`` writes the dbt sources
  (``dbt_project/models/serving/_serving__sources.yml``), the generated part of each GX serving
  suite (``expectations/serving_<table>.yml``) and ``docs/serving_schema.md``;
  ``tests/test_serving_contracts_declared_once.py`` fails when any of them drifts.

Types use the raw schema's vocabulary (``tasks.ingest.schema.TYPES``). Value lists that the
model code also defines (the risk policy's labels ...) are typed here because this
module must stay import-light (no torch); the test above asserts the two agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa

from tasks.contracts.columns import ColumnLookup, column_factory, table_lookup
from tasks.ingest.schema import Column

log = logging.getLogger(__name__)

# Declared type -> SQL type of the serving table (DuckDB and PostgreSQL alike).
SQL_TYPES = {"string": "TEXT", "int": "BIGINT", "float": "DOUBLE PRECISION", "bool": "BOOLEAN",
             "timestamp": "TIMESTAMP", "date": "DATE"}
# Declared type -> Arrow type of the typed table ``check_table`` builds. Timestamps keep the
# unit they arrive in (pandas' datetime64[ns] or [us]), as the pandas path did; both load into
# TIMESTAMP, which stores microseconds in DuckDB and PostgreSQL.
ARROW_TYPES = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
               "timestamp": pa.timestamp("us"), "date": pa.date32()}


@dataclass(frozen=True)
class ServingColumn(Column):
    """A raw ``Column`` plus an upper bound and the reason for a value rule.

    ``why`` travels to the GX expectation's ``meta`` so a failure tells the on-call engineer
    what the rule protects.
    """

    max_value: float | None = None
    strict_max: bool = False
    why: str = ""
    # pandas writes serving tables (``write_serving``); dbt writes the marts (``MartColumn``).
    written_by_pandas: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_value is None and self.strict_max:
            raise ValueError(f"column {self.name!r}: strict_max without max_value")
        # pandas int64 has no null: the writer could not keep one
        if self.written_by_pandas and self.type == "int" and self.nullable:
            raise ValueError(f"column {self.name!r}: an int column must be declared not null")

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    @property
    def rule_text(self) -> str:
        rules = [super().rule_text] if super().rule_text else []
        if self.max_value is not None:
            rules.append(f"{'<' if self.strict_max else '<='} {self.max_value:g}")
        return "; ".join(rules)


@dataclass(frozen=True)
class ServingTable(ColumnLookup[ServingColumn]):
    """One ``serving.<name>`` table, partitioned by ``as_of_date`` (and ``as_of_hour`` if hourly).

    ``columns`` are the scorer's own; ``all_columns`` adds the run columns every row carries.
    ``key`` is unique within a partition (``key_why`` says why, when the grain alone does not);
    ``also_unique`` lists other unique column sets with
    the reason. ``empty_why``: why an empty partition is a legitimate outcome (then the GX gate
    passes it); empty when an empty partition means something broke.
    """

    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[ServingColumn, ...]
    hourly: bool = False
    empty_why: str = ""
    key_why: str = ""
    also_unique: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def qualified(self) -> str:
        return f"serving.{self.name}"

    @property
    def allow_empty(self) -> bool:
        return bool(self.empty_why)

    @property
    def partition_columns(self) -> tuple[str, ...]:
        return ("as_of_date", "as_of_hour") if self.hourly else ("as_of_date",)

    @property
    def all_columns(self) -> tuple[ServingColumn, ...]:
        return (*self.columns, *(RUN_COLUMNS_HOURLY if self.hourly else RUN_COLUMNS_DAILY))

    @property
    def _column_owner(self) -> str:
        return self.qualified

    @property
    def sql_types(self) -> dict[str, str]:
        """``{column: SQL type}`` in write order (what ``write_serving`` creates the table with)."""
        return {c.name: c.sql_type for c in self.all_columns}


_c = column_factory(ServingColumn)


_AS_OF_DATE = _c("as_of_date", "date", False, "Partition: the day the row serves from (00:00 UTC).")
_RUN_TAIL = (
    _c("model_version", "string", False, "Registry version that produced the row (ml.model_registry)."),
    _c("run_id", "string", False, "Airflow run (or CLI run) that wrote the partition."),
    _c("scored_at", "timestamp", False, "Logical scoring instant (as_of_date 00:00, or the scored hour's "
       "end), never the wall clock: a re-run writes identical rows."),
)
RUN_COLUMNS_DAILY: tuple[ServingColumn, ...] = (_AS_OF_DATE, *_RUN_TAIL)
RUN_COLUMNS_HOURLY: tuple[ServingColumn, ...] = (
    _AS_OF_DATE, _c("as_of_hour", "timestamp", False, "Partition: start of the scored UTC hour."), *_RUN_TAIL)

_PROBABILITY: dict[str, object] = {"min_value": 0, "max_value": 1}
_RANK: dict[str, object] = {"min_value": 1}

# Value lists also defined by the model code (the test compares them).
INTENTS = ("browse", "compare", "buy")                                  # tasks.train.session_intent.INTENTS
RISK_LABELS = ("pass", "review", "block")                               # tasks.train.risk LABELS
RISK_ACTIONS = ("none", "warn", "intercept", "freeze_account")          # tasks.train.risk ACTIONS
INVENTORY_ACTIONS = ("order", "none")
INVENTORY_POLICIES = ("policy", "days_of_cover", "order_up_to_seasonal_naive")  # "policy" + inventory BASELINES
PRICE_OBJECTIVES = ("revenue", "margin")                                # tasks.train.pricing.config.OBJECTIVES
PRICE_ACTIONS = ("raise", "lower", "keep")
AUDIENCE_SEGMENTS = ("lapsed fan", "loyal fan", "active non-fan", "occasional non-fan")  # uplift SEGMENTS


SERVING_TABLES: dict[str, ServingTable] = {
    t.name: t
    for t in (
        ServingTable(
            name="recommendations",
            description="One row per (as_of_date, user_id, rank): the top-N items for each user active in "
                        "the last 90 days, from the champion or a popularity fallback (docs/recommender.md).",
            key=("user_id", "rank"),
            also_unique=((("user_id", "item_id"), "recommending the same item twice wastes a slot"),),
            columns=(
                _c("user_id", "string", False),
                _c("item_id", "string", False, "product_id of the recommended item."),
                _c("rank", "int", False, "1 = best.", **_RANK),
                _c("score", "float", False, "Ranking score (for popularity lists the item's share of the list)."),
                _c("strategy", "string", False, "Policy that produced the row: `model`, a served baseline "
                   "(`item_knn`, `session_knn`, `ease`, `popularity`), or the cold-start "
                   "`segment_popularity` | `popularity`."),
            ),
        ),
        ServingTable(
            name="session_intent",
            description="One row per scored session per as_of_date/as_of_hour: purchase probability and "
                        "the browse/compare/buy intent.",
            key=("session_id",),
            hourly=True,
            empty_why="An hour without sessions scores nothing.",
            columns=(
                _c("session_id", "string", False),
                _c("user_id", "string", True, "Null for anonymous sessions."),
                _c("p_purchase", "float", True, "P(the session purchases).", **_PROBABILITY),
                _c("intent", "string", True, "`buy` when p_purchase >= threshold.", allowed_values=INTENTS),
                _c("threshold", "float", True, "Decision threshold chosen on validation data."),
            ),
        ),
        ServingTable(
            name="demand_forecasts",
            description="One row per (as_of_date, item_id, forecast_date): forecast quantiles of units "
                        "(and a median price) for the champion's horizon from as_of_date (docs/forecaster.md).",
            key=("item_id", "forecast_date"),
            columns=(
                _c("item_id", "string", False, "Series key: product_id, or product_id@location."),
                _c("forecast_date", "date", False),
                _c("p10", "float", True, "10 % quantile of units (below 0 only for series with returns)."),
                _c("p50", "float", True, "Median units."),
                _c("p90", "float", True, "90 % quantile of units."),
                _c("price_p50", "float", True, "Median price forecast; null for items never sold at a known "
                   "price."),
            ),
        ),
        ServingTable(
            name="risk_labels",
            description="One row per scored transaction per as_of_date/as_of_hour: calibrated fraud "
                        "probability, label and action (docs/risk_policy.md).",
            key=("transaction_id",),
            hourly=True,
            empty_why="An hour without payments scores nothing.",
            columns=(
                _c("transaction_id", "string", False),
                _c("user_id", "string", True),
                _c("risk_score", "float", True, "Calibrated fraud probability.", **_PROBABILITY),
                _c("label", "string", False, allowed_values=RISK_LABELS),
                _c("action", "string", True, allowed_values=RISK_ACTIONS),
                _c("reasons", "string", True, "Why (empty when nothing stood out)."),
            ),
        ),
        ServingTable(
            name="inventory_actions",
            description="One row per (as_of_date, product_id) with a stock snapshot: the replenishment "
                        "action and the figures behind it (docs/inventory.md).",
            key=("product_id",),
            columns=(
                _c("product_id", "string", False),
                _c("category", "string"),
                _c("stock_on_hand", "float", True, min_value=0),
                _c("on_order", "float"),
                _c("inventory_position", "float", True, "stock_on_hand + on_order."),
                _c("lead_time_days", "int", False, min_value=1,
                   why="an order placed today arrives at the earliest tomorrow (tasks/replenishment.py)"),
                _c("review_days", "int", False),
                _c("protection_days", "int", False, "lead_time_days + review_days."),
                _c("pack_size", "int", False, min_value=1),
                _c("moq", "int", False, "Minimum order quantity."),
                _c("demand_mean", "float", True, "Mean demand over the protection period."),
                _c("demand_std", "float", True, "Standard deviation of demand over the protection period."),
                _c("service_level", "float", True, "Target probability of no stock-out.",
                   min_value=0, strict_min=True, max_value=1, strict_max=True),
                _c("safety_stock", "float"),
                _c("reorder_point", "float"),
                _c("order_quantity", "float", True, "Whole packs, >= MOQ (0 = no order).", min_value=0),
                _c("p_stockout", "float", True, "P(stock-out within the protection period).", **_PROBABILITY),
                _c("days_of_cover", "float", True, "Null when there is no demand."),
                _c("action", "string", True, allowed_values=INVENTORY_ACTIONS),
                _c("reason", "string", False),
                _c("demand_source", "string", False, "`demand_forecaster:<version>` | `own_history`."),
                _c("policy", "string", True, "The served candidate.", allowed_values=INVENTORY_POLICIES),
            ),
        ),
        ServingTable(
            name="price_recommendations",
            description="One row per (as_of_date, product_id) the pricing model was fitted on: the "
                        "guardrailed recommended price and the elasticity behind it (docs/pricing.md).",
            key=("product_id",),
            columns=(
                _c("product_id", "string", False),
                _c("category", "string"),
                _c("current_price", "float"),
                _c("recommended_price", "float", True, min_value=0, strict_min=True, why="a price is positive"),
                _c("price_change_pct", "float", True, min_value=-50, max_value=50,
                   why="guardrail: the default max change per step is 10 %; anything near 50 % is a bug"),
                _c("elasticity", "float"),
                _c("elasticity_se", "float", True, "Standard error of the elasticity."),
                _c("expected_units_current", "float", True, "Expected units per day at the current price.",
                   min_value=0),
                _c("expected_units_recommended", "float", True, "Expected units per day at the recommended price."),
                _c("expected_revenue_current", "float", True, "Per day."),
                _c("expected_revenue_recommended", "float", True, "Per day."),
                _c("objective", "string", True, allowed_values=PRICE_OBJECTIVES),
                _c("action", "string", True, allowed_values=PRICE_ACTIONS),
                _c("reason", "string", False),
            ),
        ),
        ServingTable(
            name="search_rankings",
            description="One row per (as_of_date, segment, query, rank): the search ranker's ranked products "
                        "for the frequent queries of the window, per user segment (docs/search.md).",
            key=("segment", "query", "rank"),
            also_unique=((("segment", "query", "product_id"), "a product listed twice for one query wastes a "
                          "result slot"),),
            columns=(
                _c("segment", "string", False, "`new` | `top:<category>` (the user's rank-1 category affinity)."),
                _c("query", "string", False),
                _c("rank", "int", False, "1 = best.", **_RANK),
                _c("product_id", "string", False),
                _c("score", "float", False),
            ),
        ),
        ServingTable(
            name="user_category_affinity",
            description="One row per (as_of_date, user_id, category): a user's smoothed share of product "
                        "interactions in a category and its lift over the shop's mix, for boosting search "
                        "results; written with the search ranker's version (docs/search.md).",
            key=("user_id", "category"),
            also_unique=((("user_id", "rank"), ""),),
            columns=(
                _c("user_id", "string", False),
                _c("category", "string", False),
                _c("affinity", "float", True, "Smoothed share of the user's interactions in the category.",
                   min_value=0, strict_min=True, max_value=1, why="a smoothed share of the user's interactions"),
                _c("lift", "float", True, "log(affinity / the shop's share of the category)."),
                _c("n_interactions", "int", False, min_value=1,
                   why="only categories the user interacted with are listed"),
                _c("rank", "int", False, "1 = the user's strongest category.", **_RANK),
            ),
        ),
        ServingTable(
            name="campaign_audiences",
            description="One row per (as_of_date, campaign_id, user_id): the users selected for each active "
                        "campaign of tasks/train/uplift/campaigns.yml, by expected incremental conversion, at "
                        "most its budget (docs/audiences.md).",
            key=("campaign_id", "user_id"),
            key_why="a user is selected once per campaign",
            also_unique=((("campaign_id", "rank"), ""),),
            empty_why="No campaign active that day, or no user the model expects the message to help: "
                      "nothing to send.",
            columns=(
                _c("campaign_id", "string", False),
                _c("campaign_name", "string"),
                _c("channel", "string"),
                _c("user_id", "string", False),
                _c("segment", "string", True, allowed_values=AUDIENCE_SEGMENTS),
                _c("expected_uplift", "float", True, "P(convert | sent) - P(convert | not sent).",
                   min_value=0, strict_min=True, max_value=1,
                   why="only users the campaign is expected to help are selected (no sleeping dogs)"),
                _c("propensity", "float", True, "P(convert | sent).", **_PROBABILITY),
                _c("rank", "int", False, "1 = highest expected uplift.", **_RANK),
                _c("reason", "string", False, "Segment and the inputs that drove the uplift."),
            ),
        ),
    )
}


def table(qualified: str) -> ServingTable:
    """``serving.<name>`` -> its declaration (a clear error for an undeclared table)."""
    return table_lookup(SERVING_TABLES, "serving", "serving table", "tasks/score/schema.py", qualified)


class ServingContractError(ValueError):
    """A scorer's frame does not fit its serving table's declaration (names the table and column)."""


def _typed(values: pd.Series, type_: str) -> pd.Series:
    """pandas' parsing of a column into ``type_`` (strings to numbers or times, floats to ints):
    the fallback of ``_arrow_column`` for columns Arrow cannot take as they are."""
    if type_ == "timestamp":
        return pd.to_datetime(values)
    if type_ == "float":
        return pd.to_numeric(values).astype(float)
    if type_ == "int":
        numbers = pd.to_numeric(values)
        if numbers.isna().any():
            raise ValueError("null in an int column")
        if not (numbers == numbers.round()).all():
            raise ValueError(f"fractional values, e.g. {numbers[numbers != numbers.round()].iloc[0]!r}")
        return numbers.astype("int64")
    if type_ == "date":
        return pd.to_datetime(values)  # date-like text and timestamps; the time of day is dropped below
    if type_ == "bool":
        return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else bool(v))
    return values.astype(object).where(values.notna(), None)  # string


_ARROW_MISFIT = (pa.ArrowException, ValueError, TypeError, OverflowError)


def _numpy_kind(values: pd.Series) -> str:
    """The numpy kind of ``values`` ("O" object, "f" float, "M" datetime ...); "" for extension
    dtypes (nullable Int64, string, category ...), which take the pandas route."""
    return values.dtype.kind if isinstance(values.dtype, np.dtype) else ""


def _arrow_direct(values: pd.Series, type_: str) -> pa.Array | None:
    """``values`` as an Arrow array of ``type_`` in one pass in C, when they already are values
    of that type (Python ``str``/``date``/``bool`` objects, numpy numbers, naive datetime64);
    None when they need pandas' parsing first (text numbers, text times, mixed objects).

    Missing values (None, NaN, NaT, pd.NA) become Arrow nulls, exactly what ``Series.isna``
    counts, so the array's ``null_count`` is the not-null check. Why: the serving write spent
    half its time in per-column pandas casts (``astype(object).where(...)``, ``isna`` over
    Python objects) and in DuckDB scanning Python objects; an Arrow table is typed once and
    scanned by DuckDB without a copy (benchmarks/warehouse_writes.py)."""
    kind = _numpy_kind(values)
    try:
        if type_ == "string" and kind in ("O", "U"):
            return pa.array(values.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        if type_ == "float" and kind in ("f", "i", "u", "b"):
            return pa.array(values.to_numpy(dtype=np.float64), from_pandas=True)  # NaN -> null
        if type_ == "int" and kind in ("i", "u"):
            return pa.array(values.to_numpy(dtype=np.int64))
        if type_ == "timestamp" and kind == "M":
            return pa.array(values, from_pandas=True)  # naive datetime64 of any unit
        if type_ == "date" and kind == "O":  # date (or datetime: the time of day is dropped) objects
            return pa.array(values.to_numpy(dtype=object), type=pa.date32(), from_pandas=True)
        if type_ == "date" and kind == "M":
            return pa.array(values, from_pandas=True).cast(pa.date32(), safe=False)
        if type_ == "bool" and kind in ("b", "O"):
            return pa.array(values.to_numpy(dtype=object) if kind == "O" else values, type=pa.bool_(),
                            from_pandas=True)
    except _ARROW_MISFIT:
        return None
    return None


def _arrow_parsed(values: pd.Series, type_: str) -> pa.Array:
    """``_typed``'s result as an Arrow array of ``type_`` (raises ValueError/TypeError when the
    values do not fit). Timestamps with a time zone are stored as naive UTC, the convention of
    every timestamp in the warehouse."""
    typed = _typed(values, type_)
    if type_ in ("timestamp", "date") and isinstance(typed.dtype, pd.DatetimeTZDtype):
        typed = typed.dt.tz_convert("UTC").dt.tz_localize(None)
    if type_ == "date":
        return pa.array(typed, from_pandas=True).cast(pa.date32(), safe=False)
    if type_ == "string":
        try:
            return pa.array(typed.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        except _ARROW_MISFIT:  # numbers among the strings: stored as their text
            text = typed.map(lambda v: v if v is None or isinstance(v, str) else str(v))
            return pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return pa.array(typed, type=ARROW_TYPES[type_] if type_ != "timestamp" else None, from_pandas=True)


def _arrow_column(qualified: str, column: ServingColumn, values: pd.Series) -> pa.Array:
    """One declared column as Arrow: directly when the values already have the type, else
    through pandas' parsing; raises ``ServingContractError`` naming table and column for a
    null in a not-null column (checked first, as the count of ``Series.isna``) or a misfit."""
    where = f"{qualified}.{column.name}"
    array = _arrow_direct(values, column.type)
    if array is not None:
        nulls = array.null_count
    else:
        nulls = int(values.isna().sum())
    if not column.nullable and nulls:
        raise ServingContractError(f"{where}: {nulls} null value(s) in a column declared not null "
                                   f"(tasks/score/schema.py)")
    if array is None:
        try:
            array = _arrow_parsed(values, column.type)
        except _ARROW_MISFIT as exc:
            raise ServingContractError(f"{where}: values do not fit the declared type {column.type!r}: "
                                       f"{exc}") from None
    return array


def _declared(qualified: str, frame: pd.DataFrame) -> ServingTable:
    """``qualified``'s declaration, after checking ``frame`` has every declared column."""
    spec = table(qualified)
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        raise ServingContractError(f"{qualified}: scorer produced no column(s) {missing} "
                                   f"(declared in tasks/score/schema.py)")
    extra = [c for c in frame.columns if c not in spec.column_names]
    if extra:
        log.debug("%s: not writing undeclared column(s) %s", qualified, extra)
    return spec


def check_table(qualified: str, frame: pd.DataFrame) -> pa.Table:
    """``frame`` as ``qualified`` stores it, as an Arrow table: exactly the declared columns in
    declared order, each in its declared type (``ARROW_TYPES``; timestamps keep their unit);
    raises ``ServingContractError`` naming the table and the column when a declared column is
    missing, a value does not fit the type, or a non-nullable column holds a null. Extra
    columns (a scorer's working columns, or one not yet declared) are left out, and logged, so
    publishing a column is one edit here. What ``write_serving`` inserts: DuckDB scans it
    without a copy, PostgreSQL's COPY gets its CSV from Arrow."""
    spec = _declared(qualified, frame)
    arrays = [_arrow_column(qualified, column, frame[column.name]) for column in spec.all_columns]
    return pa.Table.from_arrays(arrays, names=spec.column_names)


def check_frame(qualified: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``check_table`` as a pandas frame (strings and dates as Python objects with None for
    null, floats with NaN, int64, datetime64): the same checks and errors."""
    return check_table(qualified, frame).to_pandas(date_as_object=True)
