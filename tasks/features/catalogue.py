"""The feature jobs the DAG schedules: what each computes, reads and when it runs.

Importing this module is cheap (no pyspark): a DAG file can create one task per
entry of ``FEATURE_JOBS`` at parse time. The transform itself is imported only
when a job runs (``FeatureJob.transform``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tasks.features.windows import (
    ACTIVITY_DAYS,
    DAILY_ROW_WINDOW_DAYS,
    HOUR,
    ORDER_HISTORY_DAYS,
    SALES_DAYS,
    SESSION_MAX_SPAN,
    TXN_HISTORY_DAYS,
)


@dataclass(frozen=True)
class Input:
    """A raw entity a job reads and how far before ``as_of`` it needs data.

    ``lookback=None`` reads every partition before ``as_of`` (dimensions such as
    users and products, whose rows are partitioned by creation date).
    """

    entity: str
    daily_lookback: timedelta | None
    hourly_lookback: timedelta | None = None

    def lookback(self, hourly: bool) -> timedelta | None:
        return self.hourly_lookback if hourly else self.daily_lookback


@dataclass(frozen=True)
class FeatureJob:
    name: str
    transform_ref: str  # "module:function", imported lazily
    inputs: tuple[Input, ...]
    key: tuple[str, ...]
    daily: bool = True
    hourly: bool = False
    description: str = ""
    # column -> definition, for every ratio/derived column whose range matters: each must be
    # bounded by construction for any event pattern (buys without views, repeat buys, bulk
    # orders, no prices, zero/negative amounts), since its GX suite range-checks it. The text is
    # the column's description in tasks/contracts/features_schema.py and docs/feature_schema.md.
    definitions: Mapping[str, str] = field(default_factory=dict)

    @property
    def transform(self) -> Callable[..., object]:
        """The pure ``(input frames..., as_of[, hourly]) -> DataFrame`` function."""
        module, func = self.transform_ref.split(":")
        return getattr(importlib.import_module(module), func)

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(i.entity for i in self.inputs)

    def supports(self, hourly: bool) -> bool:
        return self.hourly if hourly else self.daily


def _days(n: int) -> timedelta:
    return timedelta(days=n)


FEATURE_JOBS: dict[str, FeatureJob] = {
    job.name: job
    for job in (
        FeatureJob(
            name="user_profile",
            transform_ref="tasks.features.user_profile:user_profile",
            inputs=(
                Input("users", None),
                Input("products", None),
                Input("events", _days(ACTIVITY_DAYS)),
                Input("order_lines", _days(ORDER_HISTORY_DAYS)),
            ),
            key=("user_id",),
            description="RFM, 30-day activity and category affinity per user (recommender).",
            definitions={
                "category_affinity": "JSON category -> share of the user's 30-day events on products with a "
                                     "known category; shares in [0, 1] and sum to 1",
                "monetary_90d": "net value of the user's orders in 90 days (lines without a price count 0)",
            },
        ),
        FeatureJob(
            name="item_features",
            transform_ref="tasks.features.item_features:item_features",
            inputs=(
                Input("products", None),
                Input("events", _days(ACTIVITY_DAYS)),
                Input("order_lines", _days(ACTIVITY_DAYS)),
            ),
            key=("product_id",),
            description="30-day prices, funnel counts and popularity per product (recommender).",
            definitions={
                "conversion_rate_30d": "distinct buyers / distinct visitors (viewed or bought; the user, or "
                                       "the session when anonymous) in the 30 days; null without a view. "
                                       "In [0, 1] by construction (purchases / views was not: items are "
                                       "bought without a view in the window, and bought repeatedly)",
                "price_mean_30d": "mean of the prices seen on view/cart/purchase events and paid on "
                                  "non-cancelled order lines (> 0 only); null when the source has no prices",
                "category": "the listing's category, else the latest category an event carried "
                            "(sources without a products file)",
            },
        ),
        FeatureJob(
            name="session_features",
            transform_ref="tasks.features.session_features:session_features",
            inputs=(
                Input("events", _days(DAILY_ROW_WINDOW_DAYS) + SESSION_MAX_SPAN, HOUR + SESSION_MAX_SPAN),
                Input("products", None, None),
            ),
            key=("session_id",),
            hourly=True,
            description="Pre-purchase behaviour per session, label has_purchase (session intent).",
            definitions={
                "n_distinct_categories": "distinct categories (listing, else event category) among the "
                                         "pre-purchase events; <= n_distinct_products",
                "session_id": "events without a session id make no row",
            },
        ),
        FeatureJob(
            name="transaction_velocity",
            transform_ref="tasks.features.transaction_velocity:transaction_velocity",
            inputs=(
                Input("transactions", _days(DAILY_ROW_WINDOW_DAYS + TXN_HISTORY_DAYS),
                      HOUR + _days(TXN_HISTORY_DAYS)),
                Input("users", None, None),
            ),
            key=("transaction_id",),
            hourly=True,
            description="Per-transaction velocity from the user's earlier payments, label is_fraud (risk).",
            definitions={
                "amount_sum_24h": "sum of max(amount, 0) of the user's earlier payments in 24 h: refunds and "
                                  "zero-amount card tests add no spend, so it is >= 0",
                "amount_to_user_mean": "amount / mean amount of the user's earlier payments (90 days); null "
                                       "without history or when that mean is <= 0",
                "extra_features": "the shop's own signals on the payment (mapping `features:`), JSON as "
                                  "loaded; the risk model and its baselines use each as a feature "
                                  "(numeric or categorical); null when the mapping declares none",
            },
        ),
        FeatureJob(
            name="daily_item_sales",
            transform_ref="tasks.features.daily_item_sales:daily_item_sales",
            inputs=(
                Input("order_lines", _days(SALES_DAYS)),
                Input("daily_sales", _days(SALES_DAYS)),
                Input("prices", None),
            ),
            key=("product_id", "sales_date"),
            description="Dense 90-day daily units/revenue/price/promo per product (demand forecast).",
            definitions={
                "avg_price": "revenue / units over the units whose price is known; else the source's daily "
                             "price; else null (never 0 for a source without prices)",
                "units": "sum of quantities as double (bulk orders cannot overflow)",
            },
        ),
    )
}


def get_job(name: str) -> FeatureJob:
    try:
        return FEATURE_JOBS[name]
    except KeyError:
        raise KeyError(f"unknown feature set {name!r}; known: {sorted(FEATURE_JOBS)}") from None


@dataclass(frozen=True)
class RunPoint:
    """When a feature run is "as of".

    Daily: ``as_of_date`` D means data strictly before D 00:00 (the day D-1 was
    ingested). Hourly: ``as_of_hour`` H is the hour being scored; rows are the
    hour's transactions/sessions, data is cut at H+1h and each row sees only
    what happened strictly before it. ``as_of_date`` of an hourly run is H's date.
    """

    as_of_date: date
    as_of_hour: datetime | None = None

    def __post_init__(self) -> None:
        hour = self.as_of_hour
        if hour is not None:
            if hour.tzinfo is not None or hour.minute or hour.second or hour.microsecond:
                raise ValueError(f"as_of_hour must be a naive UTC hour start, got {hour!r}")
            if hour.date() != self.as_of_date:
                raise ValueError(
                    f"as_of_hour {hour:%Y-%m-%dT%H} is not on as_of_date {self.as_of_date}"
                )

    @property
    def hourly(self) -> bool:
        return self.as_of_hour is not None

    @property
    def as_of(self) -> datetime:
        """The cut-off instant handed to the transforms (data strictly before it)."""
        if self.as_of_hour is not None:
            return self.as_of_hour + HOUR
        return datetime(self.as_of_date.year, self.as_of_date.month, self.as_of_date.day)

    @property
    def label(self) -> str:
        return f"{self.as_of_hour:%Y-%m-%dT%H}" if self.as_of_hour else self.as_of_date.isoformat()

    @classmethod
    def parse(cls, as_of_date: str | date, as_of_hour: str | datetime | None = None) -> RunPoint:
        """From CLI/DAG text: ``YYYY-MM-DD`` and optionally ``YYYY-MM-DDTHH``."""
        day = as_of_date if isinstance(as_of_date, date) else date.fromisoformat(as_of_date)
        if isinstance(day, datetime):
            day = day.date()
        hour: datetime | None
        if as_of_hour is None or isinstance(as_of_hour, datetime):
            hour = as_of_hour
        else:
            text = as_of_hour.strip()
            hour = datetime.fromisoformat(text + ":00" if len(text) == 13 else text)
        return cls(day, hour)
