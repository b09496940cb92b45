"""What every realised-metric evaluator shares: when the truth is known, the result shape.

An evaluator scores the served outputs whose truth window *closed* inside the monitoring
day ``D`` (window end in ``(D, D+1]``), so each served partition is scored by exactly one
daily run and a re-run of ``D`` recomputes the same rows. An output whose window is still
open, or whose truth the warehouse has not loaded yet, is skipped with the reason (never
written as a zero).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd

from tasks.warehouse import qualified, read_frame, table_exists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealisedConfig:
    """How long each kind of truth takes to be known (days).

    ``recommendation_window_days``: a recommendation list served on ``A`` is judged on the
    purchases of ``[A, A + window)``. ``intent_lag_days``: a session can run up to
    ``tasks.features.windows.SESSION_MAX_SPAN`` (1 day) past the scored hour, so a day's
    intent scores are judged one day later. ``fraud_label_delay_days``: how long fraud labels
    (chargebacks) take to arrive; rows whose label is still null are left out either way.
    ``price_window_days``: price recommendations served on ``A`` are judged on the units sold in
    ``[A, A + window)``. ``campaign_window_days``: an audience served on ``A`` is judged on the
    conversions of ``[A, A + window)`` (the synthetic shop attributes 7 days). Inventory actions
    need no setting: each is judged on its own protection period (lead time + review).
    ``inventory_max_protection_days``: how far back served inventory partitions are looked for.
    """

    recommendation_window_days: int = 7
    top_k: int = 10
    intent_lag_days: int = 1
    fraud_label_delay_days: int = 0
    mase_insample_days: int = 56
    price_window_days: int = 7
    campaign_window_days: int = 7
    inventory_max_protection_days: int = 120

    def __post_init__(self) -> None:
        for name in ("recommendation_window_days", "top_k", "price_window_days", "campaign_window_days",
                     "inventory_max_protection_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"RealisedConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("intent_lag_days", "fraud_label_delay_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"RealisedConfig.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class Evaluation:
    """An evaluator's rows (``monitoring.realised_metrics`` columns) or why it has none."""

    model: str
    rows: list[dict] = field(default_factory=list)
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> Evaluation:
        log.warning("realised metrics of %s not computed: %s", self.model, reason)
        self.skipped = reason
        return self

    def add(self, *, model_version: str, output_table: str, output_as_of_date: date, metric: str,
            value: float, n_rows: int, truth_through: datetime, horizon_days: int | None = None) -> None:
        """One metric row; an undefined value (NaN: e.g. PR-AUC without a positive) is not
        written as a number but noted with the reason."""
        if value is None or not math.isfinite(value):
            note = (f"{metric} of {model_version} on {output_table} {output_as_of_date}"
                    f"{'' if horizon_days is None else f' horizon {horizon_days}'} is undefined on "
                    f"{n_rows} rows (e.g. no positive outcome); not written")
            log.info("%s", note)
            self.notes.append(note)
            return
        self.rows.append({"model": self.model, "model_version": model_version, "output_table": output_table,
                          "output_as_of_date": output_as_of_date, "metric": metric,
                          "horizon_days": horizon_days, "value": float(value), "n_rows": int(n_rows),
                          "truth_through": truth_through})


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def loaded_through(table: str, column: str) -> datetime | None:
    """The newest ``column`` value of ``table`` (None when the table is missing or empty)."""
    if not table_exists(table):
        return None
    found = read_frame(f"SELECT MAX({column}) AS m FROM {qualified(table)}")["m"].iloc[0]
    if found is None or pd.isna(found):
        return None
    moment = pd.Timestamp(found).to_pydatetime()
    return moment if isinstance(moment, datetime) else day_start(moment)


def truth_missing(tables: list[tuple[str, str]], needed_until: datetime) -> str | None:
    """Why the truth up to ``needed_until`` (exclusive) is not loaded, or None when it is.

    Known when any of the listed (table, time column) reaches into the window's last day.
    """
    newest = [t for t in (loaded_through(table, col) for table, col in tables) if t is not None]
    names = " / ".join(table for table, _ in tables)
    if not newest:
        return f"no truth: {names} missing or empty"
    last = max(newest)
    if last < needed_until - timedelta(days=1):
        return f"truth not loaded yet: {names} end at {last}, the window needs data until {needed_until}"
    return None


def served_rows(table: str, where: str, params: dict) -> pd.DataFrame | None:
    """Rows of a serving table (None when the table does not exist)."""
    if not table_exists(table):
        return None
    return read_frame(f"SELECT * FROM {qualified(table)} WHERE {where}", params)
