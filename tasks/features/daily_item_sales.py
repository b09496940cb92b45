"""``daily_item_sales``: dense daily demand per product for the forecaster.

One row per (product, day) for the 90 days before ``as_of``, zero-filled, so a
model sees "sold nothing" rather than a missing day. Products are those with at
least one sale in the window (order lines or source daily totals).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from tasks.features.lake_io import ts_lit
from tasks.features.windows import SALES_DAYS

OUTPUT_COLUMNS = ("product_id", "sales_date", "units", "revenue", "avg_price", "n_orders", "is_promo")


def _promo_days(prices: DataFrame, grid: DataFrame, as_of: datetime) -> DataFrame:
    """(product_id, sales_date) where a promotional price was in effect at some time that day.

    A price row is in effect from its ``valid_from`` until the product's next
    price change; only changes published before ``as_of`` are known.
    """
    known = prices.where(F.col("valid_from") < ts_lit(as_of))
    spans = known.withColumn(
        "valid_to", F.lead("valid_from").over(Window.partitionBy("product_id").orderBy("valid_from"))
    ).where(F.coalesce(F.col("is_promo"), F.lit(False)))
    day_start = F.col("sales_date").cast(T.TimestampType())
    day_end = F.date_add("sales_date", 1).cast(T.TimestampType())
    return (
        grid.alias("g")
        .join(spans.alias("p"), "product_id")
        .where((F.col("valid_from") < day_end) & (F.col("valid_to").isNull() | (F.col("valid_to") > day_start)))
        .select("product_id", "sales_date")
        .distinct()
        .withColumn("price_promo", F.lit(True))
    )


def daily_item_sales(
    order_lines: DataFrame,
    daily_sales: DataFrame,
    prices: DataFrame,
    as_of: datetime,
) -> DataFrame:
    """Units, revenue, average price, order count and promo flag per product and day.

    ``as_of`` must be a midnight (daily job): days are ``[as_of - 90d, as_of)``.
    Cancellation lines are excluded. ``avg_price`` = revenue / units over the units whose price
    is known on days with such units, else the source's daily price if it gave one, else null
    (a source without prices gets null, never a price of 0). ``is_promo``
    is true when the source flagged the day or a promo price was in effect.
    """
    if as_of.time() != time(0):
        raise ValueError(f"daily_item_sales needs a midnight as_of, got {as_of}")
    last_day = as_of.date() - timedelta(days=1)
    first_day = as_of.date() - timedelta(days=SALES_DAYS)
    lines = order_lines.where(
        (F.col("ordered_at") >= ts_lit(as_of - timedelta(days=SALES_DAYS)))
        & (F.col("ordered_at") < ts_lit(as_of))
        & ~F.coalesce(F.col("is_cancellation"), F.lit(False))
    )
    priced = F.col("unit_price").isNotNull()
    qty = F.col("quantity").cast(T.DoubleType())  # double: bulk orders never overflow a sum
    from_orders = lines.groupBy("product_id", F.to_date("ordered_at").alias("sales_date")).agg(
        F.sum(qty).alias("o_units"),
        F.sum(qty * F.col("unit_price")).alias("o_revenue"),
        F.sum(F.when(priced, qty)).alias("o_priced_units"),
        F.countDistinct("order_id").alias("n_orders"),
    )
    totals = daily_sales.where(
        (F.col("sales_date") >= F.lit(first_day)) & (F.col("sales_date") <= F.lit(last_day))
    )
    d_revenue = F.coalesce(F.col("revenue"), F.col("units") * F.col("price"))
    from_totals = totals.groupBy("product_id", "sales_date").agg(
        F.sum("units").alias("d_units"),
        F.sum(d_revenue).alias("d_revenue"),
        F.sum(F.when(d_revenue.isNotNull(), F.col("units"))).alias("d_priced_units"),
        F.avg("price").alias("d_price"),
        F.max(F.coalesce(F.col("is_promo"), F.lit(False))).alias("d_promo"),
    )
    product_ids = from_orders.select("product_id").union(from_totals.select("product_id")).distinct()
    days = F.explode(F.sequence(F.lit(first_day), F.lit(last_day))).alias("sales_date")
    grid = product_ids.select("product_id", days)
    promo = _promo_days(prices, grid, as_of)
    dense = (
        grid.join(from_orders, ["product_id", "sales_date"], "left")
        .join(from_totals, ["product_id", "sales_date"], "left")
        .join(promo, ["product_id", "sales_date"], "left")
    )
    units = F.coalesce(F.col("o_units"), F.lit(0.0)) + F.coalesce(F.col("d_units"), F.lit(0.0))
    revenue = F.coalesce(F.col("o_revenue"), F.lit(0.0)) + F.coalesce(F.col("d_revenue"), F.lit(0.0))
    # avg_price only from units whose price is known: a source without prices gets null, not 0.
    priced_units = F.coalesce(F.col("o_priced_units"), F.lit(0.0)) + F.coalesce(F.col("d_priced_units"), F.lit(0.0))
    return dense.select(
        "product_id",
        "sales_date",
        units.cast(T.DoubleType()).alias("units"),
        revenue.cast(T.DoubleType()).alias("revenue"),
        F.when(priced_units > 0, revenue / priced_units).otherwise(F.col("d_price")).cast(T.DoubleType())
        .alias("avg_price"),
        F.coalesce(F.col("n_orders"), F.lit(0)).cast(T.LongType()).alias("n_orders"),
        (F.coalesce(F.col("d_promo"), F.lit(False)) | F.coalesce(F.col("price_promo"), F.lit(False)))
        .alias("is_promo"),
    )
