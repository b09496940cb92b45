"""``item_features``: one row per product, as of a daily ``as_of`` instant.

Population: products listed before ``as_of`` plus any product seen in the last
30 days of events or order lines. Only rows strictly before ``as_of`` are used.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from tasks.features.common import product_categories
from tasks.features.lake_io import ts_lit
from tasks.features.windows import ACTIVITY_DAYS

OUTPUT_COLUMNS = (
    "product_id", "category", "price_mean_30d", "price_min_30d", "price_max_30d",
    "n_views_30d", "n_carts_30d", "n_purchases_30d", "conversion_rate_30d", "popularity_rank",
    # additions beyond CONTRACTS.md: order-line based demand, for sources without events
    "n_orders_30d", "units_sold_30d",
)


def item_features(
    products: DataFrame,
    events: DataFrame,
    order_lines: DataFrame,
    as_of: datetime,
) -> DataFrame:
    """Product features over the 30 days before ``as_of``.

    Prices are the prices customers actually saw or paid: event prices (views,
    carts, purchases) and unit prices of non-cancelled order lines, so sources
    with only orders (UCI retail) still get prices. ``popularity_rank`` is 1 for
    the most popular product: purchases, then units sold, carts, views, with
    ``product_id`` breaking ties so ranks are unique and stable across re-runs.
    ``conversion_rate_30d`` = distinct buyers / distinct visitors (viewed or bought the item)
    in the window, null when nobody viewed it. A visitor is the event's user, or its session
    for anonymous events. Counting people instead of events bounds it to [0, 1] by
    construction: real clickstreams buy items without a view in the window and buy the same
    item several times, which made "purchases / views" exceed 1 and stopped a day at the GX gate.
    """
    start, end = ts_lit(as_of - timedelta(days=ACTIVITY_DAYS)), ts_lit(as_of)
    recent_events = events.where(
        (F.col("event_at") >= start) & (F.col("event_at") < end) & F.col("product_id").isNotNull()
    )
    listed_ids = products.where((F.col("created_at") < end) & F.col("product_id").isNotNull()).select("product_id")
    categories = product_categories(products.where(F.col("created_at") < end), recent_events)
    recent_lines = order_lines.where(
        (F.col("ordered_at") >= start) & (F.col("ordered_at") < end)
        & ~F.coalesce(F.col("is_cancellation"), F.lit(False))
    )
    visitor = F.coalesce(F.col("user_id"), F.concat(F.lit("session:"), F.col("session_id")))
    event_counts = recent_events.groupBy("product_id").agg(
        F.count(F.when(F.col("event_type") == "view", 1)).alias("n_views_30d"),
        F.count(F.when(F.col("event_type") == "cart", 1)).alias("n_carts_30d"),
        F.count(F.when(F.col("event_type") == "purchase", 1)).alias("n_purchases_30d"),
        F.countDistinct(F.when(F.col("event_type") == "purchase", visitor)).alias("_buyers"),
        F.countDistinct(F.when(F.col("event_type").isin("view", "purchase"), visitor)).alias("_visitors"),
    )
    line_counts = recent_lines.groupBy("product_id").agg(
        F.countDistinct("order_id").alias("n_orders_30d"),
        F.sum("quantity").alias("units_sold_30d"),
    )
    observed_prices = (
        recent_events.where(F.col("event_type").isin("view", "cart", "purchase"))
        .select("product_id", F.col("price").alias("p"))
        .union(recent_lines.select("product_id", F.col("unit_price").alias("p")))
        .where(F.col("p") > 0)
        .groupBy("product_id")
        .agg(
            F.avg("p").alias("price_mean_30d"),
            F.min("p").alias("price_min_30d"),
            F.max("p").alias("price_max_30d"),
        )
    )
    population = (
        listed_ids
        .union(event_counts.select("product_id"))
        .union(line_counts.select("product_id"))
        .distinct()
    )
    zero = F.lit(0)
    features = (
        population.join(categories, "product_id", "left")
        .join(event_counts, "product_id", "left")
        .join(line_counts, "product_id", "left")
        .join(observed_prices, "product_id", "left")
        .select(
            "product_id",
            "category",
            F.col("price_mean_30d").cast(T.DoubleType()).alias("price_mean_30d"),
            F.col("price_min_30d").cast(T.DoubleType()).alias("price_min_30d"),
            F.col("price_max_30d").cast(T.DoubleType()).alias("price_max_30d"),
            F.coalesce("n_views_30d", zero).cast(T.LongType()).alias("n_views_30d"),
            F.coalesce("n_carts_30d", zero).cast(T.LongType()).alias("n_carts_30d"),
            F.coalesce("n_purchases_30d", zero).cast(T.LongType()).alias("n_purchases_30d"),
            F.coalesce("n_orders_30d", zero).cast(T.LongType()).alias("n_orders_30d"),
            F.coalesce("units_sold_30d", zero).cast(T.LongType()).alias("units_sold_30d"),
            F.when((F.col("n_views_30d") > 0) & (F.col("_visitors") > 0), F.col("_buyers") / F.col("_visitors"))
            .cast(T.DoubleType()).alias("conversion_rate_30d"),
        )
    )
    popularity = Window.orderBy(
        F.col("n_purchases_30d").desc(), F.col("units_sold_30d").desc(),
        F.col("n_carts_30d").desc(), F.col("n_views_30d").desc(), F.col("product_id"),
    )
    return features.select(
        "product_id", "category", "price_mean_30d", "price_min_30d", "price_max_30d",
        "n_views_30d", "n_carts_30d", "n_purchases_30d",
        "conversion_rate_30d",
        F.row_number().over(popularity).cast(T.LongType()).alias("popularity_rank"),
        "n_orders_30d", "units_sold_30d",
    )
