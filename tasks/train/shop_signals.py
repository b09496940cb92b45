"""A shop's own signals (the mapping's ``features:``) as model inputs.

The loader packs the signals a mapping declares into one JSON text column, ``extra_features``
(numbers for ``numeric``, text for ``categorical``; see docs/mapping.md), and the feature jobs
carry that column through to the model's feature rows. This module turns it into one column
per signal, ``sig_<name>``, so a ``TabularSpec`` can use them like any other feature: the torch
model and the baselines (which share the spec's matrix) see exactly the same inputs.

Why discovered from the data rather than read from the mapping: the feature rows are the
contract between the feature jobs and training; the JSON already carries the type (a number
or a string) and a model must be trainable from the warehouse alone (``ecomflow evaluate``,
retraining after the mapping changed). A signal is numeric when every non-null value parses as
a number, categorical otherwise; what was discovered is stored in the artefact's spec, and
scoring builds exactly those columns (a signal missing from a later row is null there).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMN = "extra_features"
PREFIX = "sig_"
MAX_SIGNALS = 64  # a mapping declaring more is unusual; the rest are ignored (logged by the caller)
MIN_NON_NULL_SHARE = 0.01  # a signal present on fewer training rows carries no learnable pattern


@dataclass(frozen=True)
class Signals:
    """The signal columns found in training rows, by kind (column names carry ``PREFIX``)."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.categorical)


def column_name(signal: str) -> str:
    """``sig_<name>`` with anything but letters, digits and ``_`` replaced (a safe column name)."""
    return PREFIX + re.sub(r"[^0-9a-zA-Z_]", "_", signal).lower()


def _parse(text: object) -> dict[str, object]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}  # the loader quarantines malformed JSON; a row here has none
    return value if isinstance(value, dict) else {}


def expand(frame: pd.DataFrame, wanted: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``frame`` plus one ``sig_*`` column per signal (all found, or exactly ``wanted``).

    Values stay as parsed (numbers or text); ``TabularSpec`` coerces numeric columns and
    treats categorical ones as levels. Rows without the signal get null.
    """
    if COLUMN not in frame.columns:
        parsed: list[dict[str, object]] = [{}] * len(frame)
    else:
        parsed = [_parse(v) for v in frame[COLUMN].to_numpy()]
    wide = pd.DataFrame.from_records(parsed, index=frame.index) if parsed else pd.DataFrame(index=frame.index)
    wide.columns = [column_name(str(c)) for c in wide.columns]
    wide = wide.loc[:, ~wide.columns.duplicated()]
    names = list(wanted) if wanted is not None else sorted(wide.columns)[:MAX_SIGNALS]
    out = frame.drop(columns=[c for c in names if c in frame.columns])
    extra = {name: (wide[name] if name in wide.columns else pd.Series(np.nan, index=frame.index, dtype=object))
             for name in names}
    return pd.concat([out, pd.DataFrame(extra, index=frame.index)], axis=1) if extra else out


def discover(frame: pd.DataFrame) -> Signals:
    """Which expanded signal columns training can use, and whether each is numeric or categorical."""
    numeric: list[str] = []
    categorical: list[str] = []
    for name in sorted(c for c in frame.columns if c.startswith(PREFIX)):
        values = frame[name].dropna()
        if len(values) < max(1, MIN_NON_NULL_SHARE * len(frame)):
            continue
        as_number = pd.to_numeric(values, errors="coerce")
        if as_number.notna().all() and not values.map(lambda v: isinstance(v, bool)).any():
            if as_number.nunique() > 1:
                numeric.append(name)
        elif values.astype(str).nunique() > 1:
            categorical.append(name)
    return Signals(tuple(numeric), tuple(categorical))


def session_signals(frame: pd.DataFrame, events: pd.DataFrame | None, session_col: str = "session_id",
                    wanted: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``frame`` (one row per session) plus the sessions' event signals, one ``sig_*`` column each.

    ``events`` must already be cut at the prediction point (the caller passes pre-purchase events
    only, so no signal of the purchase itself leaks into its label). Per session, a numeric signal
    is the mean over its events and a categorical one the value on its earliest event that has it.
    """
    if events is None or events.empty or COLUMN not in events.columns:
        return expand(frame.drop(columns=[COLUMN], errors="ignore"), wanted if wanted is not None else ())
    ev = events.sort_values([session_col, "event_at"], kind="stable")
    ev = expand(ev[[session_col, COLUMN]].reset_index(drop=True))
    names = [c for c in ev.columns if c.startswith(PREFIX)]
    if wanted is not None:
        names = [c for c in wanted if c in ev.columns]
    per_session: dict[str, pd.Series] = {}
    grouped = ev.groupby(session_col, sort=False)
    for name in names:
        values = ev[name]
        as_number = pd.to_numeric(values, errors="coerce")
        bools = values.dropna().map(lambda v: isinstance(v, bool)).any()
        if as_number.notna().sum() == values.notna().sum() and not bools:
            per_session[name] = as_number.groupby(ev[session_col], sort=False).mean()
        else:
            per_session[name] = grouped[name].first()  # first non-null in time order
    agg = pd.DataFrame(per_session)
    out = frame.drop(columns=[c for c in agg.columns if c in frame.columns] + [COLUMN], errors="ignore")
    out = out.merge(agg, left_on=session_col, right_index=True, how="left") if len(agg.columns) else out
    for name in wanted or ():
        if name not in out.columns:  # trained on a signal these sessions' events do not carry
            out[name] = np.nan
    return out
