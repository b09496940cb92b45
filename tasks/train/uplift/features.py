"""Point-in-time features of a (campaign, user) pair: what the shop knew when the message went out.

For a row with instant ``at`` (the send time of a past campaign, or the as-of instant of a
campaign being scored) only history strictly before ``at`` is used, over ``LOOKBACK_DAYS``:

- activity: events, sessions, order lines and spend in the last 30 days; days since the last
  event and the last order (missing = never within the look-back); days since sign-up;
- affinity to what the campaign promotes: events and order lines in its target categories
  and their share of the user's events (``target_share``) — the planted truth makes the effect
  depend on exactly this combination (docs/synthetic_ground_truth.md "Campaign uplift");
- the channel (categorical).

Rows are computed per distinct ``(at, target categories)``, so a daily scoring run or a
campaign history of a few dozen sends reads each history slice once.

``rule_segment`` names a row's segment from the same features (fan of the target or not x
active or not); it is the "segment rule" baseline's grouping and the ``segment`` in the serving
rows' reason. The thresholds are learned on training rows and kept in the artefact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tasks.warehouse import read_frame, table_exists

LOOKBACK_DAYS = 60
RECENT_DAYS = 30
EVENTS_TABLE = "marts.fct_events"
ORDERS_TABLE = "marts.fct_order_lines"
PRODUCTS_TABLE = "marts.dim_products"
USERS_TABLE = "marts.dim_users"
# The deduplicated staging view when dbt has built it, else the loaded raw table.
EXPOSURE_TABLES = ("staging.stg_raw__campaign_exposures", "raw.campaign_exposures")

ACTIVITY_COLS = ("n_events_30d", "n_sessions_30d", "n_orders_30d", "spend_30d", "n_events_60d")
AFFINITY_COLS = ("target_events", "target_orders")
FEATURE_COLS = (*ACTIVITY_COLS, *AFFINITY_COLS, "target_share", "days_since_event", "days_since_order",
                "tenure_days", "channel")
SEGMENTS = ("lapsed fan", "loyal fan", "active non-fan", "occasional non-fan")


class History:
    """Events and order lines (with product categories) before an instant, read once."""

    def __init__(self, events: pd.DataFrame, orders: pd.DataFrame, users: pd.DataFrame) -> None:
        # Integer codes once, so each (instant, targets) group is a few bincounts over array slices
        # instead of string group-bys (synthetic M: 37 campaigns x 2.4M events in the look-back).
        self.events = events.sort_values("event_at", kind="stable").reset_index(drop=True)
        self.orders = orders.sort_values("ordered_at", kind="stable").reset_index(drop=True)
        ids = pd.concat([self.events["user_id"], self.orders["user_id"], users["user_id"]]).dropna().astype(str)
        self.users = pd.Index(pd.unique(ids))
        self.categories = pd.Index(pd.unique(pd.concat([self.events["category"], self.orders["category"]])))
        self.ev_user = self.users.get_indexer(self.events["user_id"].astype(str))
        self.ev_session = pd.factorize(self.events["session_id"].astype(str))[0]
        self.ev_category = self.categories.get_indexer(self.events["category"])
        self.ev_time = self.events["event_at"].to_numpy(dtype="datetime64[ns]")
        self.od_user = self.users.get_indexer(self.orders["user_id"].astype(str))
        self.od_category = self.categories.get_indexer(self.orders["category"])
        self.od_time = self.orders["ordered_at"].to_numpy(dtype="datetime64[ns]")
        self.od_amount = self.orders["line_amount"].to_numpy(dtype=float)
        signup = users.drop_duplicates("user_id").set_index(users["user_id"].drop_duplicates().astype(str))
        self.signup = pd.to_datetime(signup["signup_at"]).reindex(self.users).to_numpy(dtype="datetime64[ns]")

    @classmethod
    def read(cls, start: datetime, end: datetime) -> History:
        """fct_events / fct_order_lines in ``[start, end)`` with their product's category; dim_users."""
        categories = (read_frame(f"SELECT product_id, category FROM {PRODUCTS_TABLE}")
                      if table_exists(PRODUCTS_TABLE) else pd.DataFrame(columns=["product_id", "category"]))
        events = pd.DataFrame(columns=["user_id", "session_id", "product_id", "event_at"])
        if table_exists(EVENTS_TABLE):
            events = read_frame(f"SELECT user_id, session_id, product_id, event_at FROM {EVENTS_TABLE} "
                                "WHERE event_at >= :s AND event_at < :e AND user_id IS NOT NULL",
                                {"s": start, "e": end})
        orders = pd.DataFrame(columns=["user_id", "product_id", "ordered_at", "line_amount"])
        if table_exists(ORDERS_TABLE):
            orders = read_frame(f"SELECT user_id, product_id, ordered_at, quantity * unit_price AS line_amount "
                                f"FROM {ORDERS_TABLE} WHERE ordered_at >= :s AND ordered_at < :e "
                                "AND user_id IS NOT NULL AND NOT coalesce(is_cancellation, false)",
                                {"s": start, "e": end})
        users = (read_frame(f"SELECT user_id, signup_at FROM {USERS_TABLE}") if table_exists(USERS_TABLE)
                 else pd.DataFrame(columns=["user_id", "signup_at"]))
        return cls.from_frames(events, orders, categories, users)

    @classmethod
    def from_frames(cls, events: pd.DataFrame, orders: pd.DataFrame, products: pd.DataFrame,
                    users: pd.DataFrame) -> History:
        category = products.drop_duplicates("product_id").set_index("product_id")["category"]
        ev = events[["user_id", "session_id", "product_id", "event_at"]].copy()
        ev["event_at"] = pd.to_datetime(ev["event_at"])
        ev["category"] = ev["product_id"].map(category).fillna("").astype(str).str.lower()
        od = orders.copy()
        if "line_amount" not in od:
            od["line_amount"] = pd.to_numeric(od["quantity"]) * pd.to_numeric(od["unit_price"])
        od = od[["user_id", "product_id", "ordered_at", "line_amount"]].copy()
        od["ordered_at"] = pd.to_datetime(od["ordered_at"])
        od["line_amount"] = pd.to_numeric(od["line_amount"], errors="coerce").fillna(0.0)
        od["category"] = od["product_id"].map(category).fillna("").astype(str).str.lower()
        us = users[["user_id", "signup_at"]].copy()
        us["signup_at"] = pd.to_datetime(us["signup_at"])
        return cls(ev, od, us)

    def features(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` (campaign_id, user_id, at, channel, targets: tuple of categories) + FEATURE_COLS."""
        out = []
        for (at, targets), part in rows.groupby(["at", "targets"], sort=True):
            out.append(self._features_at(part, pd.Timestamp(at).to_pydatetime(), targets))
        if not out:
            return rows.assign(**{c: pd.Series(dtype=float) for c in FEATURE_COLS if c != "channel"})
        return pd.concat(out).loc[rows.index]

    def _features_at(self, rows: pd.DataFrame, at: datetime, targets: Iterable[str]) -> pd.DataFrame:
        n = len(self.users)
        at64 = np.datetime64(pd.Timestamp(at).to_datetime64(), "ns")
        bounds = [np.datetime64(pd.Timestamp(t).to_datetime64(), "ns")
                  for t in (at - timedelta(days=LOOKBACK_DAYS), at - timedelta(days=RECENT_DAYS))]
        e0, e30, e1 = np.searchsorted(self.ev_time, [bounds[0], bounds[1], at64])
        o0, o30, o1 = np.searchsorted(self.od_time, [bounds[0], bounds[1], at64])
        target_codes = self.categories.get_indexer(list(set(targets)))
        target_codes = target_codes[target_codes >= 0]

        def count(users: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            users = users[users >= 0] if weights is None else users
            return np.bincount(users, weights=weights, minlength=n).astype(float)

        def last_days(users: np.ndarray, times: np.ndarray) -> np.ndarray:
            last = np.full(n, np.iinfo(np.int64).min)
            np.maximum.at(last, users, times.astype(np.int64))
            days = (at64.astype(np.int64) - last) / 86_400e9
            return np.where(last == np.iinfo(np.int64).min, np.nan, days)

        eu, ou = self.ev_user[e0:e1], self.od_user[o0:o1]
        eu30, ou30 = self.ev_user[e30:e1], self.od_user[o30:o1]
        sessions30 = pd.unique(eu30.astype(np.int64) * (self.ev_session.max(initial=0) + 1)
                               + self.ev_session[e30:e1])
        known_o30 = ou30 >= 0
        per_user = {
            "n_events_30d": count(eu30),
            "n_sessions_30d": count(sessions30 // (self.ev_session.max(initial=0) + 1)),
            "n_orders_30d": count(ou30),
            "spend_30d": count(ou30[known_o30], self.od_amount[o30:o1][known_o30]),
            "n_events_60d": count(eu),
            "target_events": count(eu[np.isin(self.ev_category[e0:e1], target_codes)]),
            "target_orders": count(ou[np.isin(self.od_category[o0:o1], target_codes)]),
            "days_since_event": last_days(eu[eu >= 0], self.ev_time[e0:e1][eu >= 0]),
            "days_since_order": last_days(ou[ou >= 0], self.od_time[o0:o1][ou >= 0]),
        }
        code = self.users.get_indexer(rows["user_id"].astype(str))
        known = code >= 0
        out = rows.copy()
        for name, values in per_user.items():
            missing = np.nan if name.startswith("days_since") else 0.0
            out[name] = np.where(known, values[np.where(known, code, 0)], missing)
        out["target_share"] = np.where(out["n_events_60d"] > 0,
                                       out["target_events"] / out["n_events_60d"].clip(lower=1), 0.0)
        signup = np.where(known, self.signup[np.where(known, code, 0)], np.datetime64("NaT"))
        tenure = (at64 - signup.astype("datetime64[ns]")) / np.timedelta64(1, "D")
        out["tenure_days"] = np.nan_to_num(np.clip(tenure.astype(float), 0, None), nan=0.0)
        return out[[*rows.columns, *[c for c in FEATURE_COLS if c != "channel" and c not in rows.columns]]]


def rule_segment(frame: pd.DataFrame, fan_share: float, active_sessions: float) -> np.ndarray:
    """Fan of the target (``target_share >= fan_share``) x active (30-day sessions >= the cut)."""
    fan = pd.to_numeric(frame["target_share"]).to_numpy(dtype=float) >= fan_share
    active = pd.to_numeric(frame["n_sessions_30d"]).to_numpy(dtype=float) >= active_sessions
    return np.where(fan & ~active, SEGMENTS[0], np.where(fan, SEGMENTS[1],
                                                         np.where(active, SEGMENTS[2], SEGMENTS[3])))


def read_exposures(end: datetime) -> pd.DataFrame:
    """Past campaign rows whose outcome was reported before ``end`` (complete labels only)."""
    table = next((t for t in EXPOSURE_TABLES if table_exists(t)), None)
    cols = ["campaign_id", "user_id", "channel", "target_category", "is_treated", "exposed_at",
            "converted_at", "reported_at"]
    if table is None:
        return pd.DataFrame(columns=cols)
    frame = read_frame(f"SELECT {', '.join(cols)} FROM {table} WHERE reported_at < :e", {"e": end})
    frame = frame.drop_duplicates(["campaign_id", "user_id"], keep="last")
    frame["exposed_at"] = pd.to_datetime(frame["exposed_at"])
    # A conversion reported after ``end`` is not known yet (the row's reported_at is before it).
    frame["converted"] = (pd.to_datetime(frame["converted_at"]).notna()
                          & (pd.to_datetime(frame["converted_at"]) < end)).astype(float)
    frame["is_treated"] = frame["is_treated"].astype(bool)
    frame["channel"] = frame["channel"].fillna("unknown").astype(str).str.lower()
    frame["target_category"] = frame["target_category"].fillna("").astype(str).str.lower()
    return frame.sort_values(["exposed_at", "campaign_id", "user_id"], kind="stable").reset_index(drop=True)
