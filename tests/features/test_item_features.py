"""item_features: exact 30-day values, popularity order and the as_of cut."""

from __future__ import annotations

from datetime import datetime

import pytest

from tasks.features.item_features import OUTPUT_COLUMNS, item_features

AS_OF = datetime(2024, 4, 1)
PRODUCTS = [
    {"product_id": "p1", "category": "A", "created_at": "2024-01-01 00:00:00"},
    {"product_id": "p2", "category": "B", "created_at": "2024-01-01 00:00:00"},
    {"product_id": "p9", "category": "C", "created_at": "2024-04-01 00:00:00"},  # listed at as_of
]


def ev(eid, kind, product, price, at="2024-03-20 10:00:00"):
    return {"event_id": eid, "session_id": "s", "user_id": "u", "event_type": kind,
            "product_id": product, "price": price, "event_at": at}


def line(order, product, qty, price, at="2024-03-20 10:00:00", cancel=False):
    return {"order_id": order, "line_number": 1, "user_id": "u", "product_id": product,
            "quantity": qty, "unit_price": price, "is_cancellation": cancel, "ordered_at": at}


EVENTS = [
    ev("a1", "view", "p1", 10.0), ev("a2", "view", "p1", 12.0), ev("a3", "view", "p1", 10.0),
    ev("a4", "view", "p1", 14.0), ev("a5", "cart", "p1", 12.0),
    ev("a6", "purchase", "p1", 10.0), ev("a7", "purchase", "p1", 10.0),
    ev("b1", "view", "p2", 50.0),
    ev("old", "purchase", "p2", 1.0, at="2024-02-15 10:00:00"),  # older than 30 days
]
ORDER_LINES = [
    line("o1", "p2", 3, 40.0),
    line("c1", "p1", -1, 99.0, cancel=True),
    line("o2", "p3", 1, 7.0),  # a product without a listing
]
LATE = [ev("z1", "purchase", "p2", 5.0, at="2024-04-01 00:00:00"), ev("z2", "view", "p9", 5.0, at="2024-04-01 01:00:00")]


@pytest.fixture(scope="module")
def compute(frame, collect_by):
    def run(events):
        out = item_features(frame("products", PRODUCTS), frame("events", events),
                            frame("order_lines", ORDER_LINES), AS_OF)
        return out, collect_by(out, "product_id")
    return run


@pytest.fixture(scope="module")
def items(compute):
    out, rows = compute(EVENTS)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    return rows


def test_population_excludes_products_listed_at_as_of(items):
    assert set(items) == {"p1", "p2", "p3"}


def test_exact_values(items):
    p1, p2, p3 = items["p1"], items["p2"], items["p3"]
    assert p1["category"] == "A"
    assert (p1["n_views_30d"], p1["n_carts_30d"], p1["n_purchases_30d"]) == (4, 1, 2)
    assert p1["conversion_rate_30d"] == pytest.approx(1.0)  # its one visitor (u) bought (twice)
    assert p1["price_mean_30d"] == pytest.approx(78 / 7)  # cancelled line's 99.0 not included
    assert (p1["price_min_30d"], p1["price_max_30d"]) == (10.0, 14.0)
    assert (p2["n_views_30d"], p2["n_purchases_30d"], p2["units_sold_30d"], p2["n_orders_30d"]) == (1, 0, 3, 1)
    assert (p2["price_mean_30d"], p2["price_min_30d"], p2["price_max_30d"]) == (45.0, 40.0, 50.0)
    assert p2["conversion_rate_30d"] == 0.0
    assert p3["category"] is None and p3["conversion_rate_30d"] is None and p3["price_mean_30d"] == 7.0


def test_popularity_rank_orders_by_purchases_then_units(items):
    assert [items[p]["popularity_rank"] for p in ("p1", "p2", "p3")] == [1, 2, 3]


def test_events_at_or_after_as_of_change_nothing(compute, items):
    _, rows = compute(EVENTS + LATE)
    assert rows == items
