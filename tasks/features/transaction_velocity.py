"""``transaction_velocity``: one row per payment attempt, with label ``is_fraud``.

Every feature of a transaction is computed from the same user's transactions
strictly before it (range windows on epoch microseconds ending at ``-1``), so a
later transaction can never change an earlier one's features and daily
(training) and hourly (scoring) rows are computed identically.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window, WindowSpec

from tasks.features.common import MICROS_PER_DAY, MICROS_PER_SECOND, days_between, epoch_us
from tasks.features.lake_io import ts_lit
from tasks.features.windows import DAILY_ROW_WINDOW_DAYS, HOUR, TXN_HISTORY_DAYS

OUTPUT_COLUMNS = (
    "transaction_id", "user_id", "transaction_at", "amount", "n_txn_1h", "n_txn_24h",
    "amount_sum_24h", "n_distinct_cards_24h", "n_distinct_devices_7d", "is_new_device",
    "is_new_country", "amount_to_user_mean", "seconds_since_prev_txn", "account_age_days",
    "is_fraud", "extra_features", "feature_cutoff_at",
)


def row_window(as_of: datetime, hourly: bool) -> tuple[datetime, datetime]:
    """``[start, as_of)`` of the transactions that get a row."""
    return (as_of - (HOUR if hourly else timedelta(days=DAILY_ROW_WINDOW_DAYS)), as_of)


def _before(micros: int) -> WindowSpec:
    """The user's rows in ``[t - micros, t)``: strictly earlier, excluding ties with ``t``."""
    return Window.partitionBy("user_id").orderBy("_t").rangeBetween(-micros, -1)


def _is_new(column: str, history: WindowSpec) -> Column:
    """True when the value was not used in the user's history; false when unknown (null)."""
    seen = F.collect_set(column).over(history)
    return F.col(column).isNotNull() & ~F.array_contains(seen, F.col(column))


def transaction_velocity(
    transactions: DataFrame,
    users: DataFrame,
    as_of: datetime,
    *,
    hourly: bool = False,
) -> DataFrame:
    """Velocity features for transactions in the row window before ``as_of``.

    Daily: transactions in the 28 days before ``as_of``. Hourly (``as_of`` = end
    of the scored hour): transactions in that hour. "Earlier history" for
    ``is_new_device``/``is_new_country``/``amount_to_user_mean``/
    ``seconds_since_prev_txn`` is the user's previous 90 days; with no history
    the first two are true and the last two null. ``account_age_days`` is
    fractional days since sign-up (null when the user is unknown).
    """
    start, end = row_window(as_of, hourly)
    history_start = start - timedelta(days=TXN_HISTORY_DAYS)
    txns = transactions.where(
        (F.col("transaction_at") < ts_lit(end)) & (F.col("transaction_at") >= ts_lit(history_start))
    ).withColumn("_t", epoch_us("transaction_at"))
    hour, day, week = 3600 * MICROS_PER_SECOND, MICROS_PER_DAY, 7 * MICROS_PER_DAY
    history = _before(TXN_HISTORY_DAYS * MICROS_PER_DAY)
    prev_mean = F.avg("amount").over(history)
    with_features = txns.select(
        "transaction_id", "user_id", "transaction_at", "amount", "is_fraud", "extra_features",
        F.count("transaction_id").over(_before(hour)).alias("n_txn_1h"),
        F.count("transaction_id").over(_before(day)).alias("n_txn_24h"),
        # Spend velocity: zero/negative amounts (card tests, refunds; kept as signals) add nothing,
        # so the sum is >= 0 by construction whatever the source sends.
        F.coalesce(F.sum(F.greatest(F.col("amount"), F.lit(0.0))).over(_before(day)), F.lit(0.0))
        .alias("amount_sum_24h"),
        F.size(F.collect_set("card_hash").over(_before(day))).alias("n_distinct_cards_24h"),
        F.size(F.collect_set("device_id").over(_before(week))).alias("n_distinct_devices_7d"),
        _is_new("device_id", history).alias("is_new_device"),
        _is_new("country", history).alias("is_new_country"),
        # Only against a positive earlier mean: a user whose history nets to <= 0 has no scale.
        F.when(prev_mean > 0, F.col("amount") / prev_mean).alias("amount_to_user_mean"),
        ((F.col("_t") - F.max("_t").over(history)) / F.lit(float(MICROS_PER_SECOND)))
        .alias("seconds_since_prev_txn"),
        # The latest input any feature of this row saw (its label time is transaction_at);
        # tasks.train.leakage checks feature_cutoff_at < transaction_at before training.
        F.max("transaction_at").over(history).alias("feature_cutoff_at"),  # history is the widest window
    ).where(F.col("transaction_at") >= ts_lit(start))
    signups = (
        users.where(F.col("signup_at") < ts_lit(end))
        .groupBy("user_id")
        .agg(F.min("signup_at").alias("signup_at"))
    )
    return with_features.join(signups, "user_id", "left").select(
        "transaction_id",
        "user_id",
        "transaction_at",
        F.col("amount").cast(T.DoubleType()).alias("amount"),
        F.col("n_txn_1h").cast(T.LongType()).alias("n_txn_1h"),
        F.col("n_txn_24h").cast(T.LongType()).alias("n_txn_24h"),
        F.col("amount_sum_24h").cast(T.DoubleType()).alias("amount_sum_24h"),
        F.col("n_distinct_cards_24h").cast(T.LongType()).alias("n_distinct_cards_24h"),
        F.col("n_distinct_devices_7d").cast(T.LongType()).alias("n_distinct_devices_7d"),
        "is_new_device",
        "is_new_country",
        F.col("amount_to_user_mean").cast(T.DoubleType()).alias("amount_to_user_mean"),
        F.col("seconds_since_prev_txn").cast(T.DoubleType()).alias("seconds_since_prev_txn"),
        days_between(F.col("transaction_at"), F.col("signup_at")).alias("account_age_days"),
        F.col("is_fraud").cast(T.BooleanType()).alias("is_fraud"),
        # The shop's own signals for this payment (mapping `features:`), as received: the risk
        # model expands them (tasks/train/shop_signals.py); null when the mapping declares none.
        F.col("extra_features").cast(T.StringType()).alias("extra_features"),
        "feature_cutoff_at",
    )
