"""user_profile: exact RFM/activity/affinity values and the as_of cut."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tasks.features.user_profile import OUTPUT_COLUMNS, user_profile

AS_OF = datetime(2024, 4, 1)
USERS = [
    {"user_id": "u1", "signup_at": "2024-01-01 00:00:00"},
    {"user_id": "u2", "signup_at": "2024-03-31 12:00:00"},
    {"user_id": "u3", "signup_at": "2024-04-01 00:00:00"},  # signs up at as_of: not yet known
]
PRODUCTS = [
    {"product_id": "p1", "category": "A", "created_at": "2024-01-01 00:00:00"},
    {"product_id": "p2", "category": "B", "created_at": "2024-01-01 00:00:00"},
]


def line(order, n, at, qty, price, user="u1", product="p1", cancel=False):
    return {"order_id": order, "line_number": n, "user_id": user, "product_id": product,
            "quantity": qty, "unit_price": price, "is_cancellation": cancel, "ordered_at": at}


def ev(eid, session, kind, at, product=None, user="u1"):
    return {"event_id": eid, "session_id": session, "user_id": user, "event_type": kind,
            "product_id": product, "event_at": at}


ORDER_LINES = [
    line("o1", 1, "2024-03-30 00:00:00", 2, 10.0),
    line("o1", 2, "2024-03-30 00:00:00", 1, 5.0, product="p2"),
    line("o2", 1, "2023-12-01 00:00:00", 1, 100.0),  # outside 90d, inside the 365d history
    line("c1", 1, "2024-03-31 00:00:00", -1, 10.0, cancel=True),
]
EVENTS = [
    ev("e1", "s1", "view", "2024-03-20 10:00:00", "p1"),
    ev("e2", "s1", "view", "2024-03-20 10:01:00", "p2"),
    ev("e3", "s2", "view", "2024-03-25 10:00:00", "p1"),
    ev("e4", "s2", "purchase", "2024-03-25 10:05:00", "p1"),
    ev("e5", "s2", "search", "2024-03-25 10:06:00"),
    ev("e6", "s0", "view", "2024-02-15 10:00:00", "p2"),  # older than 30 days
    ev("e7", "s7", "view", "2024-03-28 10:00:00", "p2", user="u4"),  # a user without a users row
]
LATE_ORDERS = [line("o3", 1, "2024-04-01 00:00:00", 9, 9.0)]
LATE_EVENTS = [ev("e9", "s9", "purchase", "2024-04-01 00:00:00", "p2"), ev("e10", "s9", "view", "2024-04-02 00:00:00", "p2")]


@pytest.fixture(scope="module")
def compute(frame, collect_by):
    def run(orders, events):
        out = user_profile(frame("users", USERS), frame("products", PRODUCTS), frame("events", events),
                           frame("order_lines", orders), AS_OF)
        return out, collect_by(out, "user_id")
    return run


@pytest.fixture(scope="module")
def profiles(compute):
    out, rows = compute(ORDER_LINES, EVENTS)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    return rows


def test_population(profiles):
    assert set(profiles) == {"u1", "u2", "u4"}


def test_rfm_counts_placed_orders_and_nets_cancellations(profiles):
    u1 = profiles["u1"]
    assert u1["recency_days"] == pytest.approx(2.0)  # the cancellation is not an order
    assert u1["frequency_90d"] == 1
    assert u1["monetary_90d"] == pytest.approx(25.0 - 10.0)
    assert u1["avg_order_value"] == pytest.approx((25.0 + 100.0) / 2)
    assert u1["days_since_signup"] == pytest.approx(91.0)


def test_activity_and_category_affinity(profiles):
    u1 = profiles["u1"]
    assert (u1["n_events_30d"], u1["n_sessions_30d"], u1["n_purchases_30d"]) == (5, 2, 1)
    assert u1["top_category"] == "A"
    assert json.loads(u1["category_affinity"]) == {"A": 0.75, "B": 0.25}


def test_inactive_user_gets_zero_counts_and_null_values(profiles):
    u2 = profiles["u2"]
    assert u2["days_since_signup"] == pytest.approx(0.5)
    assert (u2["frequency_90d"], u2["monetary_90d"], u2["n_events_30d"]) == (0, 0.0, 0)
    assert u2["recency_days"] is None and u2["avg_order_value"] is None and u2["top_category"] is None
    assert u2["category_affinity"] == "{}"
    assert profiles["u4"]["days_since_signup"] is None and profiles["u4"]["top_category"] == "B"


def test_data_at_or_after_as_of_changes_nothing(compute, profiles):
    _, rows = compute(ORDER_LINES + LATE_ORDERS, EVENTS + LATE_EVENTS)
    assert rows == profiles
