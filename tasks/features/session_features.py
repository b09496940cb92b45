"""``session_features``: one row per browsing session, with label ``has_purchase``.

Label leakage is the risk here: a session that ends in a purchase has more
events, carts and a longer duration *because* of the purchase. So behaviour
features use only the session's events strictly before its first purchase (all
its events when there is none). Consequences, by design:

* A session whose first event is a purchase has zero behaviour features
  (``n_events = 0``, ``duration_seconds = 0``, ``mean_price_viewed`` null). A
  live scorer never sees a zero-event session, so training code should drop
  ``n_events = 0`` rows rather than learn "no events => purchase".
* Identity attributes known when the session starts (``session_start_at``,
  ``device``, ``user_id``) come from the pre-purchase events *or the first event*
  of the session, whatever its type: the first non-null value in time order.
* ``has_purchase`` is computed from the events available before ``as_of``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from tasks.features.common import product_categories, seconds_between
from tasks.features.lake_io import ts_lit
from tasks.features.windows import DAILY_ROW_WINDOW_DAYS, HOUR, SESSION_MAX_SPAN

OUTPUT_COLUMNS = (
    "session_id", "user_id", "session_start_at", "n_events", "n_views", "n_carts", "n_searches",
    "n_distinct_products", "n_distinct_categories", "duration_seconds", "mean_price_viewed",
    "hour_of_day", "day_of_week", "device", "has_purchase", "feature_cutoff_at", "label_at",
)


def row_window(as_of: datetime, hourly: bool) -> tuple[datetime, datetime]:
    """``[start, as_of)``: sessions started in it (daily) or with events in it (hourly)."""
    return (as_of - (HOUR if hourly else timedelta(days=DAILY_ROW_WINDOW_DAYS)), as_of)


def _first_non_null(value: str, condition: Column) -> Column:
    """Value of ``value`` on the earliest row (event_at, event_id) where it is set and ``condition`` holds."""
    ordered = F.struct(F.col("event_at"), F.col("event_id"), F.col(value).alias("v"))
    return F.min(F.when(condition & F.col(value).isNotNull(), ordered)).getField("v")


def session_features(
    events: DataFrame,
    products: DataFrame,
    as_of: datetime,
    *,
    hourly: bool = False,
) -> DataFrame:
    """Session features from events strictly before ``as_of`` and before the first purchase.

    Daily (``as_of`` = a midnight): sessions that started in the 28 days before
    ``as_of``. Hourly (``as_of`` = end of the scored hour): sessions with at least
    one event in that hour, described by their events up to the hour's end.
    ``day_of_week`` is 0 = Monday .. 6 = Sunday (Python/pandas convention);
    ``hour_of_day`` is 0..23 UTC.
    """
    start, end = row_window(as_of, hourly)
    visible = events.where(
        (F.col("event_at") < ts_lit(end))
        & (F.col("event_at") >= ts_lit(start - SESSION_MAX_SPAN))
    )
    # Events without a session id (a source that cannot sessionise) cannot form a session row.
    visible = visible.where(F.col("session_id").isNotNull())
    categories = product_categories(products.where(F.col("created_at") < ts_lit(end)), visible)
    in_session = Window.partitionBy("session_id")
    marked = (
        visible.drop("category").join(categories, "product_id", "left")
        .withColumn(
            "first_purchase_at",
            F.min(F.when(F.col("event_type") == "purchase", F.col("event_at"))).over(in_session),
        )
        .withColumn("first_event_at", F.min("event_at").over(in_session))
    )
    pre = F.col("first_purchase_at").isNull() | (F.col("event_at") < F.col("first_purchase_at"))
    known_at_start = pre | (F.col("event_at") == F.col("first_event_at"))

    def count_pre(event_type: str) -> Column:
        return F.count(F.when(pre & (F.col("event_type") == event_type), 1))

    sessions = marked.groupBy("session_id").agg(
        _first_non_null("user_id", known_at_start).alias("user_id"),
        _first_non_null("device", known_at_start).alias("device"),
        F.min("event_at").alias("session_start_at"),
        F.max("event_at").alias("last_event_at"),
        F.max(F.when(pre, F.col("event_at"))).alias("last_pre_event_at"),
        F.count(F.when(pre, 1)).alias("n_events"),
        count_pre("view").alias("n_views"),
        count_pre("cart").alias("n_carts"),
        count_pre("search").alias("n_searches"),
        F.countDistinct(F.when(pre, F.col("product_id"))).alias("n_distinct_products"),
        F.countDistinct(F.when(pre, F.col("category"))).alias("n_distinct_categories"),
        F.avg(F.when(pre & (F.col("event_type") == "view"), F.col("price"))).alias("mean_price_viewed"),
        F.max(F.col("event_type") == "purchase").alias("has_purchase"),
        F.min(F.when(F.col("event_type") == "purchase", F.col("event_at"))).alias("first_purchase_at"),
    )
    if hourly:
        selected = sessions.where(F.col("last_event_at") >= ts_lit(start))
    else:
        selected = sessions.where(F.col("session_start_at") >= ts_lit(start))
    return selected.select(
        "session_id",
        "user_id",
        "session_start_at",
        F.col("n_events").cast(T.LongType()).alias("n_events"),
        F.col("n_views").cast(T.LongType()).alias("n_views"),
        F.col("n_carts").cast(T.LongType()).alias("n_carts"),
        F.col("n_searches").cast(T.LongType()).alias("n_searches"),
        F.col("n_distinct_products").cast(T.LongType()).alias("n_distinct_products"),
        F.col("n_distinct_categories").cast(T.LongType()).alias("n_distinct_categories"),
        F.coalesce(seconds_between(F.col("last_pre_event_at"), F.col("session_start_at")), F.lit(0.0))
        .alias("duration_seconds"),
        F.col("mean_price_viewed").cast(T.DoubleType()).alias("mean_price_viewed"),
        F.hour("session_start_at").cast(T.IntegerType()).alias("hour_of_day"),
        F.weekday("session_start_at").cast(T.IntegerType()).alias("day_of_week"),
        "device",
        F.col("has_purchase").cast(T.BooleanType()).alias("has_purchase"),
        # Latest event the counts saw (null when none before the purchase), and when the label was
        # known: the first purchase, or the session's last event for a session without one.
        # tasks.train.leakage checks feature_cutoff_at < label_at before training.
        F.col("last_pre_event_at").alias("feature_cutoff_at"),
        F.coalesce(F.col("first_purchase_at"), F.col("last_event_at")).alias("label_at"),
    )
