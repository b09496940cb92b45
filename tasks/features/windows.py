"""Time windows of the feature sets, in one place (no pyspark import).

The catalogue uses them to decide which lake partitions to read and the
transforms use them to compute; keeping both here means the reader can never
prune away data a transform needs.
"""

from __future__ import annotations

from datetime import timedelta

#: user_profile / item_features activity window (``*_30d`` columns).
ACTIVITY_DAYS = 30
#: user_profile recency/frequency/monetary window (``*_90d`` columns).
RFM_DAYS = 90
#: How far back user_profile looks for a last order (``recency_days``,
#: ``avg_order_value``); bounded so a daily run reads a bounded number of partitions.
ORDER_HISTORY_DAYS = 365

#: Daily session_features / transaction_velocity emit rows from this many days.
DAILY_ROW_WINDOW_DAYS = 56
#: A session is assumed to span at most this long; the reader looks this far
#: before the row window so a session's true first event is seen.
SESSION_MAX_SPAN = timedelta(days=1)

#: transaction_velocity: "the user's earlier history" (is_new_device,
#: is_new_country, amount_to_user_mean, seconds_since_prev_txn) is the
#: transactions in the 90 days before each transaction, for daily and hourly alike.
TXN_HISTORY_DAYS = 90

#: daily_item_sales: dense series length.
SALES_DAYS = 90

HOUR = timedelta(hours=1)
