"""daily_item_sales: dense 90-day grid, exact daily values, promo flags, as_of cut."""

from __future__ import annotations

from datetime import datetime

import pytest

from tasks.features.daily_item_sales import OUTPUT_COLUMNS, daily_item_sales

AS_OF = datetime(2024, 4, 1)


def line(order, qty, price, at, product="p1", cancel=False):
    return {"order_id": order, "line_number": 1, "user_id": "u", "product_id": product,
            "quantity": qty, "unit_price": price, "is_cancellation": cancel, "ordered_at": at}


ORDER_LINES = [
    line("o1", 2, 10.0, "2024-03-31 10:00:00"),
    line("o2", 1, 16.0, "2024-03-31 11:00:00"),
    line("c1", -1, 10.0, "2024-03-31 12:00:00", cancel=True),
    line("o3", 5, 10.0, "2024-04-01 00:00:00"),  # at as_of
    line("o4", 7, 10.0, "2024-01-01 23:59:59"),  # the day before the 90-day window
]
DAILY_SALES = [
    {"product_id": "p2", "store_id": "s1", "units": 3.0, "revenue": 30.0, "price": 10.0,
     "is_promo": False, "sales_date": "2024-03-15"},
    {"product_id": "p2", "store_id": "s2", "units": 1.0, "revenue": None, "price": 12.0,
     "is_promo": False, "sales_date": "2024-03-15"},
    {"product_id": "p2", "store_id": "s1", "units": 0.0, "revenue": 0.0, "price": 11.0,
     "is_promo": True, "sales_date": "2024-03-16"},
    {"product_id": "p2", "store_id": "s1", "units": 8.0, "revenue": 80.0, "price": 10.0,
     "is_promo": False, "sales_date": "2024-04-01"},  # as_of date itself
]
PRICES = [
    {"product_id": "p1", "price": 8.0, "is_promo": True, "valid_from": "2024-03-20 00:00:00"},
    {"product_id": "p1", "price": 10.0, "is_promo": False, "valid_from": "2024-03-21 00:00:00"},
    {"product_id": "p1", "price": 7.0, "is_promo": True, "valid_from": "2024-04-01 00:00:00"},
]


@pytest.fixture(scope="module")
def sales(frame, collect_by):
    out = daily_item_sales(frame("order_lines", ORDER_LINES), frame("daily_sales", DAILY_SALES),
                           frame("prices", PRICES), AS_OF)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    return collect_by(out, ("product_id", "sales_date"))


def test_dense_grid_covers_exactly_the_90_days_before_as_of(sales):
    assert len(sales) == 2 * 90
    days = sorted({d for _, d in sales})
    assert (days[0], days[-1]) == ("2024-01-02", "2024-03-31")


def test_order_lines_without_cancellations(sales):
    day = sales[("p1", "2024-03-31")]
    assert (day["units"], day["revenue"], day["avg_price"], day["n_orders"], day["is_promo"]) == (
        3.0, 36.0, 12.0, 2, False)


def test_zero_filled_days(sales):
    day = sales[("p1", "2024-01-02")]
    assert (day["units"], day["revenue"], day["avg_price"], day["n_orders"], day["is_promo"]) == (
        0.0, 0.0, None, 0, False)


def test_daily_totals_and_promo_flags(sales):
    both_stores = sales[("p2", "2024-03-15")]
    assert (both_stores["units"], both_stores["revenue"], both_stores["avg_price"]) == (4.0, 42.0, 10.5)
    promo_day = sales[("p2", "2024-03-16")]
    assert (promo_day["units"], promo_day["avg_price"], promo_day["is_promo"]) == (0.0, 11.0, True)
    assert sales[("p1", "2024-03-20")]["is_promo"] is True  # promo price in effect that day
    assert sales[("p1", "2024-03-21")]["is_promo"] is False


def test_needs_a_midnight_as_of(frame):
    empty = [frame(e, []) for e in ("order_lines", "daily_sales", "prices")]
    with pytest.raises(ValueError, match="midnight"):
        daily_item_sales(*empty, as_of=datetime(2024, 4, 1, 6))
    assert daily_item_sales(*empty, as_of=AS_OF).count() == 0
