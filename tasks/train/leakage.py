"""Leakage guard: prove, before a model trains, that no feature saw the future of its label.

The feature jobs are written to be point-in-time correct, and their unit tests
check that. This guard checks the *data actually about to be trained on*, so a
bug in a job, a hand-edited partition or a new mapping that fills timestamps
wrongly stops the training run instead of producing an optimistic model:

* every row's ``feature_cutoff_at`` (the latest input any of its features saw)
  must be strictly before the row's label time, and
* every label time must be before the as-of instant the model is trained for
  (a label from after the cutoff would leak the evaluation period).

``train_if_due`` calls ``check_training_inputs`` before any recipe runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from tasks.train.common import as_of_instant
from tasks.train.data import latest_daily_partition
from tasks.warehouse import connect, qualified, quote_ident, read_frame, table_columns

log = logging.getLogger(__name__)


class LeakageError(RuntimeError):
    """Training data where a feature saw the label's future (or a label lies after as-of)."""


@dataclass(frozen=True)
class Guard:
    table: str
    key: str  # row identifier shown in the error
    label_time: str
    feature_time: str | None = None  # None: the table has no per-row feature time
    # A row whose label is an *event* (a purchase) must have every feature strictly before it. A
    # negative label (no purchase in the session) is only known once the session ended, after its
    # last event, so features may include that last event: then equality is allowed.
    positive_label: str | None = None


GUARDS: dict[str, tuple[Guard, ...]] = {
    "risk": (Guard("features.transaction_velocity", "transaction_id", "transaction_at", "feature_cutoff_at"),),
    "session_intent": (Guard("features.session_features", "session_id", "label_at", "feature_cutoff_at",
                             positive_label="has_purchase"),),
    "demand_forecaster": (Guard("features.daily_item_sales", "product_id", "sales_date"),),
    # Replays the same sales; raw.inventory is read with snapshot_at < as-of in the query itself.
    "inventory_policy": (Guard("features.daily_item_sales", "product_id", "sales_date"),),
    # The same sales; raw.prices is read with valid_from < as-of in the query itself (pricing/data.py).
    "pricing": (Guard("features.daily_item_sales", "product_id", "sales_date"),),
    "recommender": (),  # reads marts by an explicit [start, as_of) window (tasks/train/data.py)
    # reads the search log and marts by an explicit [start, as_of) window; every feature of a search
    # on day D counts only rows of days before D (tasks/train/search_ranker/features.py, tested)
    "search_ranker": (),
}


def _violations(guard: Guard, partition: date, cutoff_sql: str, params: dict) -> tuple[int, list[str]]:
    table = qualified(guard.table)
    frame = read_frame(
        f"SELECT {quote_ident(guard.key)} AS k FROM {table} WHERE as_of_date = :d AND as_of_hour IS NULL "
        f"AND ({cutoff_sql}) ORDER BY 1",
        {"d": partition, **params},
    )
    return len(frame), [str(v) for v in frame["k"].head(3)]


def check_guard(guard: Guard, as_of_date: date) -> int:
    """Check one table's training partition for ``as_of_date``; returns rows checked."""
    partition = latest_daily_partition(guard.table, as_of_date)
    if partition is None:
        return 0
    with connect() as conn:
        columns = table_columns(conn, guard.table) or []
    needed = [guard.label_time] + [c for c in (guard.feature_time, guard.positive_label) if c]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise LeakageError(f"{guard.table} has no column(s) {missing}: cannot prove the training data is "
                           "point-in-time correct; re-run its feature job")
    label = quote_ident(guard.label_time)
    problems = []
    n, examples = _violations(guard, partition, f"{label} >= :as_of", {"as_of": as_of_instant(as_of_date)})
    if n:
        problems.append(f"{n} row(s) have {guard.label_time} at or after the as-of instant "
                        f"{as_of_date} 00:00 (e.g. {guard.key} {examples})")
    if guard.feature_time:
        feat = quote_ident(guard.feature_time)
        leak = f"{feat} >= {label}"
        if guard.positive_label:
            leak = f"({feat} > {label} OR ({feat} = {label} AND {quote_ident(guard.positive_label)}))"
        n, examples = _violations(guard, partition, f"{feat} IS NOT NULL AND {leak}", {})
        if n:
            problems.append(f"{n} row(s) have {guard.feature_time} not before {guard.label_time}: a feature "
                            f"saw the label's future (e.g. {guard.key} {examples})")
    if problems:
        raise LeakageError(f"{guard.table} partition as_of_date={partition}: " + "; ".join(problems)
                           + ". Training stopped; fix the feature job or the data and re-run it.")
    rows = read_frame(f"SELECT COUNT(*) AS n FROM {qualified(guard.table)} WHERE as_of_date = :d "
                      "AND as_of_hour IS NULL", {"d": partition})["n"].iloc[0]
    log.info("leakage guard: %s as_of_date=%s: %d rows, every label before %s, every feature before its label",
             guard.table, partition, rows, as_of_date)
    return int(rows)


def check_training_inputs(model: str, as_of_date: date) -> int:
    """Run every guard of ``model``; raises ``LeakageError``; returns rows checked."""
    return sum(check_guard(g, as_of_date) for g in GUARDS.get(model, ()))
