"""Entities a source derives from its own rows when it has no file for them.

A public clickstream has events with user and item ids but no user file, no product file
and often no session ids. Refusing it (or asking the shop to pre-process) makes every
later step fail on empty tables; deriving is what an analyst would do by hand:

- **sessions**: events without a ``session_id`` are cut per user at every gap longer than
  the mapping's ``inactivity_minutes`` (the usual web-analytics rule, 30 minutes by
  default). The id is ``s-`` + a hash of the user and the session's first event time, so
  it is stable across cache rebuilds and re-runs. Events without a user cannot be tied
  to others: each is its own session (``s-`` + hash of its event id).
- **users**: one row per ``user_id`` seen on any entity; ``signup_at`` = first time seen
  (the account is at least that old), ``country`` = the first country seen with it.
- **products**: one row per ``product_id`` seen; ``created_at`` = first time seen,
  ``category`` = the first category carried by an events/order-lines file (``category``
  under its ``columns``). No price: a first seen price is not a list price.

Only rows whose time parsed take part. Derived rows carry ``_source_file`` =
``<mapping> (users derived from events, ...)`` and ``_source_row`` = 1-based position.
Nothing here carries PII: ids only (``email``/``name`` need a users file).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from tasks.ingest.schema import ENTITIES
from tasks.ingest.sources.base import REASON, SOURCE_ERROR, SOURCE_FILE, SOURCE_LINE, SOURCE_ROW

USER_SOURCES = ("events", "order_lines", "transactions", "sessions")
PRODUCT_SOURCES = ("events", "order_lines", "daily_sales", "prices", "inventory")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _text(values: pd.Series) -> pd.Series:
    """Ids as the loader will type them (``str``), empty text as missing."""
    out = values.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
    return out.where(out.notna() & (out.astype("string").str.strip() != ""), None).astype(object)


def assign_sessions(events: pd.DataFrame, inactivity_minutes: int) -> pd.DataFrame:
    """Fill missing ``session_id`` from per-user inactivity gaps (deterministic ids)."""
    out = events.copy()
    for column in ("session_id", "user_id"):
        if column not in out.columns:
            out[column] = None
    session = _text(out["session_id"])
    need = session.isna()
    if not need.any():
        return out
    rows = out.loc[need, ["user_id", "event_at", SOURCE_FILE, SOURCE_ROW]].copy()
    rows["user"] = _text(rows["user_id"]) if "user_id" in rows.columns else None
    known = rows[rows["user"].notna()].sort_values(["user", "event_at", SOURCE_FILE, SOURCE_ROW], kind="stable")
    gap = known.groupby("user", sort=False)["event_at"].diff() > pd.Timedelta(minutes=inactivity_minutes)
    new = known["user"].ne(known["user"].shift()) | gap
    number = new.cumsum()
    start = known.groupby(number)["event_at"].transform("min")
    ids = pd.Series([f"s-{_digest(f'{u}|{t.isoformat()}')}" for u, t in zip(known["user"], start, strict=True)],
                    index=known.index, dtype=object)
    anonymous = rows.index[rows["user"].isna()]
    event_ids = _text(out.loc[anonymous, "event_id"]) if "event_id" in out.columns else pd.Series(dtype=object)
    anon_ids = pd.Series([f"s-{_digest(f'anon|{e if e is not None else r}')}" for e, r in
                          zip(event_ids.reindex(anonymous), out.loc[anonymous, SOURCE_ROW], strict=True)],
                         index=anonymous, dtype=object)
    session = session.astype(object)
    session.loc[ids.index] = ids
    session.loc[anon_ids.index] = anon_ids
    out["session_id"] = session
    return out


def _first_seen(frames: dict[str, pd.DataFrame], sources: tuple[str, ...], key: str,
                attribute: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Per id: first time seen and the first non-null ``attribute`` (in time order)."""
    parts, used = [], []
    for entity in sources:
        frame = frames.get(entity)
        if frame is None or key not in frame.columns or frame.empty:
            continue
        time_col = ENTITIES[entity].time_column
        part = pd.DataFrame({"id": _text(frame[key]), "at": pd.to_datetime(frame[time_col]),
                             "attr": frame[attribute] if attribute and attribute in frame.columns else None,
                             "order": len(used)})
        part["row"] = np.arange(len(part))
        parts.append(part[part["id"].notna() & part["at"].notna()])
        used.append(entity)
    if not parts:
        return pd.DataFrame(columns=["id", "at", "attr"]), used
    seen = pd.concat(parts, ignore_index=True).sort_values(["id", "at", "order", "row"], kind="stable")
    first = seen.groupby("id", sort=True).agg(at=("at", "first"))
    attr = _text(seen["attr"]) if attribute else pd.Series(None, index=seen.index, dtype=object)
    first["attr"] = attr.groupby(seen["id"]).first().reindex(first.index)  # first non-null in time order
    return first.reset_index(), used


def date_profiles(entity: str, key: str, good: pd.DataFrame, bad: pd.DataFrame,
                  frames: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of a users/products file without a time column, dated when their id is first seen in
    the source's other files (the profile is known from then on; point-in-time joins see it no
    earlier). An id no other file mentions dates from the source's first instant. With no dated
    row anywhere, its rows are quarantined with the reason."""
    time_col = ENTITIES[entity].time_column
    need = good[time_col].isna()
    if not need.any():
        return good, bad
    sources = USER_SOURCES if entity == "users" else PRODUCT_SOURCES
    first, _ = _first_seen({e: f for e, f in frames.items() if e != entity}, sources, key, None)
    seen = pd.Series(pd.to_datetime(first["at"]).to_numpy(), index=first["id"].astype(str))
    times = [pd.to_datetime(f[ENTITIES[e].time_column]).min() for e, f in frames.items()
             if e != entity and not f.empty and ENTITIES[e].time_column in f.columns]
    earliest = min((t for t in times if pd.notna(t)), default=pd.NaT)
    ids = _text(good.loc[need, key])
    out = good.copy()
    out.loc[need, time_col] = pd.to_datetime(ids.map(seen)).fillna(earliest)
    undated = out[time_col].isna()
    if undated.any():
        rows = out[undated].assign(**{REASON: f"{time_col}: the file has no time column and no other file of the "
                                           f"source has a dated row to date it from"})
        bad = pd.concat([bad, rows], ignore_index=True)
    return out[~undated], bad


def _finish(frame: pd.DataFrame, entity: str, origin: str, used: list[str]) -> pd.DataFrame:
    frame = frame.sort_values([ENTITIES[entity].time_column, ENTITIES[entity].key[0]], kind="stable")
    frame = frame.reset_index(drop=True)
    frame[SOURCE_FILE] = f"{origin} ({entity} derived from {', '.join(used)})"
    frame[SOURCE_ROW] = np.arange(1, len(frame) + 1)
    frame[SOURCE_LINE] = None
    frame[SOURCE_ERROR] = None
    return frame


def derive_users(frames: dict[str, pd.DataFrame], origin: str) -> pd.DataFrame:
    """Users first seen on any entity carrying ``user_id`` (see module docstring)."""
    first, used = _first_seen(frames, USER_SOURCES, "user_id", "country")
    users = pd.DataFrame({"user_id": first["id"].astype(object), "signup_at": pd.to_datetime(first["at"]),
                          "country": first["attr"].astype(object)})
    return _finish(users, "users", origin, used)


def derive_products(frames: dict[str, pd.DataFrame], origin: str) -> pd.DataFrame:
    """Products first seen on any entity carrying ``product_id`` (see module docstring)."""
    first, used = _first_seen(frames, PRODUCT_SOURCES, "product_id", "category")
    products = pd.DataFrame({"product_id": first["id"].astype(object), "created_at": pd.to_datetime(first["at"]),
                             "category": first["attr"].astype(object)})
    return _finish(products, "products", origin, used)
