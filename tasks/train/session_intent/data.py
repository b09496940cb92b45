"""Warehouse reads: events of the sessions and session summaries, and the labelled rows."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tasks.train.session_intent.config import EVENTS_TABLE, SUMMARY_TABLE
from tasks.warehouse import read_frame, table_exists
from tasks.warehouse.engine import connect
from tasks.warehouse.io import table_columns


def prepare_summaries(frame: pd.DataFrame) -> pd.DataFrame:
    """fct_session_summaries -> model frame: numeric types, derived page count, the
    common ``session_start_at`` time column."""
    out = frame.copy()
    for c in ("n_events", "n_product_views", "duration_seconds", "bounce_rate", "exit_rate", "page_value"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    out["n_other_pages"] = (out["n_events"] - out["n_product_views"]).clip(lower=0)
    out["session_start_at"] = pd.to_datetime(out["started_at"])
    return out


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["has_purchase"].notna()].copy() if "has_purchase" in frame else frame.iloc[0:0]


def read_events(session_ids: np.ndarray, start: datetime, end: datetime) -> pd.DataFrame:
    """fct_events of these sessions in ``[start, end)`` (end = the prediction data's as_of)."""
    cols = ["event_id", "session_id", "event_type", "product_id", "price", "event_at"]
    if not table_exists(EVENTS_TABLE) or len(session_ids) == 0:
        return pd.DataFrame(columns=cols)
    with connect() as conn:  # marts built before shop signals existed lack the column
        if "extra_features" in (table_columns(conn, EVENTS_TABLE) or []):
            cols.append("extra_features")
    events = read_frame(f"SELECT {', '.join(cols)} FROM {EVENTS_TABLE} WHERE event_at >= :s AND event_at < :e",
                        {"s": start, "e": end})
    return events[events["session_id"].isin(set(session_ids))].reset_index(drop=True)


def read_summaries(start: datetime, end: datetime) -> pd.DataFrame:
    """fct_session_summaries rows started in ``[start, end)``, prepared for the model."""
    if not table_exists(SUMMARY_TABLE):
        return pd.DataFrame()
    frame = read_frame(f"SELECT * FROM {SUMMARY_TABLE} WHERE started_at >= :s AND started_at < :e",
                       {"s": start, "e": end})
    return prepare_summaries(frame) if not frame.empty else frame
