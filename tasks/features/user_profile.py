"""``user_profile``: one row per user, as of a daily ``as_of`` instant.

Population: users signed up before ``as_of`` plus any user with events in the
last 30 days or orders in the last 365 (sources without a users table still
get profiles). Only rows with event time strictly before ``as_of`` are used.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from tasks.features.common import days_between, product_categories
from tasks.features.lake_io import ts_lit
from tasks.features.windows import ACTIVITY_DAYS, ORDER_HISTORY_DAYS, RFM_DAYS

OUTPUT_COLUMNS = (
    "user_id", "recency_days", "frequency_90d", "monetary_90d", "avg_order_value",
    "n_events_30d", "n_sessions_30d", "n_purchases_30d", "days_since_signup",
    "top_category", "category_affinity",
)


def _orders(order_lines: DataFrame, as_of: datetime) -> DataFrame:
    """One row per (user, order): time, value and whether it is a cancellation."""
    lines = order_lines.where(
        (F.col("ordered_at") < ts_lit(as_of))
        & (F.col("ordered_at") >= ts_lit(as_of - timedelta(days=ORDER_HISTORY_DAYS)))
        & F.col("user_id").isNotNull()
    )
    return lines.groupBy("user_id", "order_id").agg(
        F.min("ordered_at").alias("order_at"),
        F.sum(F.col("quantity") * F.col("unit_price")).alias("order_value"),
        F.max(F.coalesce(F.col("is_cancellation"), F.lit(False))).alias("is_cancel"),
    )


def _order_features(order_lines: DataFrame, as_of: datetime) -> DataFrame:
    """Recency, frequency, monetary value and average basket.

    ``monetary_90d`` is net of cancellations (their quantities are negative);
    ``frequency_90d`` counts placed (non-cancellation) orders; ``recency_days`` and
    ``avg_order_value`` look back 365 days so lapsed customers keep a value.
    """
    orders = _orders(order_lines, as_of)
    in_rfm = F.col("order_at") >= ts_lit(as_of - timedelta(days=RFM_DAYS))
    placed = ~F.col("is_cancel")
    return orders.groupBy("user_id").agg(
        days_between(ts_lit(as_of), F.max(F.when(placed, F.col("order_at")))).alias("recency_days"),
        F.count(F.when(placed & in_rfm, F.col("order_id"))).alias("frequency_90d"),
        F.sum(F.when(in_rfm, F.col("order_value"))).alias("monetary_90d"),
        F.avg(F.when(placed, F.col("order_value"))).alias("avg_order_value"),
    )


def _event_features(events: DataFrame, categories: DataFrame, as_of: datetime) -> DataFrame:
    """30-day activity counts and category affinity from behaviour events.

    ``category_affinity`` is a JSON object category -> share of the user's events
    on products with a known category (searches have no product and are not in the
    denominator); keys sorted, shares rounded to 6 decimals. ``top_category``
    breaks ties by category name so re-runs are identical.
    """
    recent = events.where(
        (F.col("event_at") < ts_lit(as_of))
        & (F.col("event_at") >= ts_lit(as_of - timedelta(days=ACTIVITY_DAYS)))
        & F.col("user_id").isNotNull()
    )
    counts = recent.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("n_events_30d"),
        F.countDistinct("session_id").alias("n_sessions_30d"),
        F.count(F.when(F.col("event_type") == "purchase", 1)).alias("n_purchases_30d"),
    )
    per_category = (
        recent.drop("category").join(categories, "product_id", "inner")
        .where(F.col("category").isNotNull())
        .groupBy("user_id", "category")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    total = Window.partitionBy("user_id")
    ranked = per_category.withColumn("share", F.round(F.col("n") / F.sum("n").over(total), 6)).withColumn(
        "rank", F.row_number().over(total.orderBy(F.col("n").desc(), F.col("category")))
    )
    affinity = ranked.groupBy("user_id").agg(
        F.max(F.when(F.col("rank") == 1, F.col("category"))).alias("top_category"),
        F.to_json(
            F.map_from_entries(F.array_sort(F.collect_list(F.struct("category", "share"))))
        ).alias("category_affinity"),
    )
    return counts.join(affinity, "user_id", "left")


def user_profile(
    users: DataFrame,
    products: DataFrame,
    events: DataFrame,
    order_lines: DataFrame,
    as_of: datetime,
) -> DataFrame:
    """User features as of ``as_of`` (data strictly before it).

    Day-valued features (``recency_days``, ``days_since_signup``) are fractional
    days. Counts are 0, not null, when the user had no activity; values that do
    not exist without activity (recency, average order) stay null.
    """
    known_users = (
        users.where(F.col("signup_at") < ts_lit(as_of))
        .groupBy("user_id")
        .agg(F.min("signup_at").alias("signup_at"))
    )
    orders = _order_features(order_lines, as_of)
    activity = _event_features(events, product_categories(
        products.where(F.col("created_at") < ts_lit(as_of)), events.where(F.col("event_at") < ts_lit(as_of))),
        as_of)
    population = (
        known_users.select("user_id")
        .union(orders.select("user_id"))
        .union(activity.select("user_id"))
        .distinct()
    )
    joined = (
        population.join(known_users, "user_id", "left")
        .join(orders, "user_id", "left")
        .join(activity, "user_id", "left")
    )
    return joined.select(
        "user_id",
        F.col("recency_days").cast(T.DoubleType()).alias("recency_days"),
        F.coalesce(F.col("frequency_90d"), F.lit(0)).cast(T.LongType()).alias("frequency_90d"),
        F.coalesce(F.col("monetary_90d"), F.lit(0.0)).cast(T.DoubleType()).alias("monetary_90d"),
        F.col("avg_order_value").cast(T.DoubleType()).alias("avg_order_value"),
        F.coalesce(F.col("n_events_30d"), F.lit(0)).cast(T.LongType()).alias("n_events_30d"),
        F.coalesce(F.col("n_sessions_30d"), F.lit(0)).cast(T.LongType()).alias("n_sessions_30d"),
        F.coalesce(F.col("n_purchases_30d"), F.lit(0)).cast(T.LongType()).alias("n_purchases_30d"),
        days_between(ts_lit(as_of), F.col("signup_at")).alias("days_since_signup"),
        "top_category",
        F.coalesce(F.col("category_affinity"), F.lit("{}")).alias("category_affinity"),
    )
