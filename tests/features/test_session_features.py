"""session_features: exact values, no label leakage, point-in-time cut, hourly selection."""

from __future__ import annotations

from datetime import datetime

import pytest

from tasks.features.session_features import OUTPUT_COLUMNS, session_features

AS_OF = datetime(2024, 3, 10)
PRODUCTS = [
    {"product_id": "p1", "category": "A", "created_at": "2024-01-01 00:00:00"},
    {"product_id": "p2", "category": "B", "created_at": "2024-01-01 00:00:00"},
    {"product_id": "p3", "category": "A", "created_at": "2024-01-01 00:00:00"},
]


def ev(eid, session, kind, at, product=None, price=None, user="u1", device="mobile"):
    return {"event_id": eid, "session_id": session, "user_id": user, "event_type": kind,
            "product_id": product, "price": price, "device": device, "event_at": at}


S1_BEFORE_PURCHASE = [  # Tuesday 2024-03-05
    ev("e1", "s1", "view", "2024-03-05 10:00:00", "p1", 10.0),
    ev("e2", "s1", "view", "2024-03-05 10:01:00", "p2", 20.0),
    ev("e3", "s1", "search", "2024-03-05 10:02:00"),
    ev("e4", "s1", "cart", "2024-03-05 10:03:00", "p1", 10.0),
]
S1_FROM_PURCHASE = [
    ev("e5", "s1", "purchase", "2024-03-05 10:05:00", "p1", 10.0),
    ev("e6", "s1", "view", "2024-03-05 10:06:00", "p3", 1000.0),
    ev("e7", "s1", "purchase", "2024-03-05 10:07:00", "p2", 20.0),
]
OTHERS = [
    # anonymous browsing, no purchase
    ev("e8", "s2", "view", "2024-03-06 08:00:00", "p3", 5.0, user=None, device=None),
    ev("e9", "s2", "view", "2024-03-06 08:30:00", "p3", 7.0, user=None, device="tablet"),
    # the session starts with a purchase
    ev("e10", "s3", "purchase", "2024-03-07 09:00:00", "p1", 10.0, user="u2", device="desktop"),
    ev("e11", "s3", "view", "2024-03-07 09:01:00", "p2", 20.0, user="u2", device="desktop"),
    # started before the 56-day window (DAILY_ROW_WINDOW_DAYS) / at as_of: no row
    ev("e12", "s4", "view", "2024-01-13 12:00:00", "p1", 10.0),
    ev("e13", "s5", "view", "2024-03-10 00:00:00", "p1", 10.0),
]
EVENTS = S1_BEFORE_PURCHASE + S1_FROM_PURCHASE + OTHERS


@pytest.fixture(scope="module")
def products(frame):
    return frame("products", PRODUCTS)


@pytest.fixture(scope="module")
def daily(frame, products, collect_by):
    return collect_by(session_features(frame("events", EVENTS), products, AS_OF), "session_id")


def test_output_columns_and_session_window(daily, frame, products):
    assert set(daily) == {"s1", "s2", "s3"}
    empty = session_features(frame("events", []), products, AS_OF)
    assert tuple(empty.columns) == OUTPUT_COLUMNS and empty.count() == 0


def test_features_use_only_events_before_the_first_purchase(daily):
    s1 = daily["s1"]
    assert s1 == {
        "session_id": "s1", "user_id": "u1", "session_start_at": "2024-03-05 10:00:00",
        "n_events": 4, "n_views": 2, "n_carts": 1, "n_searches": 1,
        "n_distinct_products": 2, "n_distinct_categories": 2,
        "duration_seconds": 180.0, "mean_price_viewed": 15.0,
        "hour_of_day": 10, "day_of_week": 1, "device": "mobile", "has_purchase": True,
        # the last event the features saw precedes the purchase that is the label
        "feature_cutoff_at": "2024-03-05 10:03:00", "label_at": "2024-03-05 10:05:00",
    }


def test_session_without_purchase_uses_all_its_events(daily):
    s2 = daily["s2"]
    assert (s2["n_events"], s2["n_views"], s2["n_distinct_products"]) == (2, 2, 1)
    assert s2["duration_seconds"] == 1800.0 and s2["mean_price_viewed"] == 6.0
    assert s2["user_id"] is None and s2["device"] == "tablet"  # first known device
    assert s2["has_purchase"] is False


def test_purchase_as_first_event_gives_zero_features(daily):
    s3 = daily["s3"]
    assert (s3["n_events"], s3["n_views"], s3["n_distinct_products"], s3["n_distinct_categories"]) == (0, 0, 0, 0)
    assert s3["duration_seconds"] == 0.0 and s3["mean_price_viewed"] is None
    assert s3["has_purchase"] is True
    assert s3["feature_cutoff_at"] is None and s3["label_at"] == "2024-03-07 09:00:00"
    # identity known when the session started
    assert (s3["user_id"], s3["device"], s3["session_start_at"]) == ("u2", "desktop", "2024-03-07 09:00:00")


def test_purchase_and_later_events_do_not_leak_into_features(frame, products, collect_by, daily):
    without = collect_by(
        session_features(frame("events", S1_BEFORE_PURCHASE + OTHERS), products, AS_OF), "session_id"
    )
    assert without["s1"]["has_purchase"] is False
    strip = lambda row: {k: v for k, v in row.items() if k not in ("has_purchase", "label_at")}  # noqa: E731
    assert strip(without["s1"]) == strip(daily["s1"])


def test_events_at_or_after_as_of_change_nothing(frame, products, collect_by, daily):
    late = [
        ev("x1", "s2", "purchase", "2024-03-10 00:00:00", "p3", 7.0, user=None),
        ev("x2", "s2", "view", "2024-03-11 00:00:00", "p1", 99.0, user=None),
        ev("x3", "s9", "view", "2024-03-10 05:00:00", "p1", 9.0),
    ]
    rows = collect_by(session_features(frame("events", EVENTS + late), products, AS_OF), "session_id")
    assert rows == daily


def test_hourly_run_scores_sessions_with_events_in_the_hour(frame, products, collect_by, daily):
    events = frame("events", EVENTS)
    hour_10 = collect_by(session_features(events, products, datetime(2024, 3, 5, 11), hourly=True), "session_id")
    assert set(hour_10) == {"s1"}
    assert hour_10["s1"] == daily["s1"]
    # s2 spans 08:00..08:30; scored at the end of hour 08 with both events
    hour_8 = collect_by(session_features(events, products, datetime(2024, 3, 6, 9), hourly=True), "session_id")
    assert set(hour_8) == {"s2"} and hour_8["s2"]["n_events"] == 2
