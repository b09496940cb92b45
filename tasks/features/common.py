"""Small column helpers shared by the feature transforms."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

MICROS_PER_SECOND = 1_000_000
MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND


def epoch_us(column: str | Column) -> Column:
    """Microseconds since the epoch.

    Range windows are ordered on this rather than on whole seconds so that
    "strictly before" (frame end ``-1``) excludes only rows at exactly the same
    instant, never an earlier row within the same second.
    """
    return F.unix_micros(F.col(column) if isinstance(column, str) else column)


def days_between(later: Column, earlier: Column) -> Column:
    """Fractional days ``later - earlier`` (DOUBLE; null when either is null)."""
    return (epoch_us(later) - epoch_us(earlier)) / F.lit(float(MICROS_PER_DAY))


def seconds_between(later: Column, earlier: Column) -> Column:
    return (epoch_us(later) - epoch_us(earlier)) / F.lit(float(MICROS_PER_SECOND))


def latest_per_key(frame: DataFrame, key: str, order_col: str) -> DataFrame:
    """One row per ``key``: the latest by ``order_col`` (ties broken by all columns' order)."""
    w = Window.partitionBy(key).orderBy(F.col(order_col).desc_nulls_last())
    return frame.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


def product_categories(products: DataFrame, events: DataFrame | None = None) -> DataFrame:
    """``product_id -> category`` from the latest listing of each product.

    Sources without a products file (clickstreams) often carry a category on each event
    (an optional ``category`` column on events). When ``events`` has one, products without
    a listed category take the latest non-blank category an event gave them, so category
    features work on such sources too; a listing always wins.
    """
    listed = latest_per_key(
        products.where(F.col("product_id").isNotNull()), "product_id", "created_at"
    ).select("product_id", "category")
    if events is None or "category" not in events.columns:
        return listed
    cleaned = F.nullif(F.trim(F.col("category").cast("string")), F.lit(""))
    seen = latest_per_key(
        events.where(F.col("product_id").isNotNull()).withColumn("category", cleaned)
        .where(F.col("category").isNotNull()),
        "product_id", "event_at",
    ).select("product_id", F.col("category").alias("_event_category"))
    return (
        listed.join(seen, "product_id", "full")
        .select("product_id", F.coalesce(F.col("category"), F.col("_event_category")).alias("category"))
    )
