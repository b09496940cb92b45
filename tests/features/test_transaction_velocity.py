"""transaction_velocity: exact values and per-row point-in-time correctness."""

from __future__ import annotations

from datetime import datetime

import pytest

from tasks.features.transaction_velocity import OUTPUT_COLUMNS, transaction_velocity

AS_OF = datetime(2024, 3, 10)


def txn(tid, at, amount, user="u1", card="c1", device="d1", country="FR", fraud=False):
    return {"transaction_id": tid, "user_id": user, "transaction_at": at, "amount": amount,
            "card_hash": card, "device_id": device, "country": country, "is_fraud": fraud}


BASE = [
    txn("t1", "2024-03-01 10:00:00", 10.0),
    txn("t2", "2024-03-01 10:30:00", 30.0, card="c2"),
    txn("t3", "2024-03-01 12:00:00", 20.0, device="d2", country="DE", fraud=True),
    txn("t5", "2024-03-09 23:59:59", 5.0),
    txn("t_at_as_of", "2024-03-10 00:00:00", 999.0),  # not strictly before as_of
    # two payments of u2 at the same instant: neither is "before" the other
    txn("tie_a", "2024-03-05 08:00:00", 1.0, user="u2"),
    txn("tie_b", "2024-03-05 08:00:00", 2.0, user="u2", device=None),
]
USERS = [{"user_id": "u1", "signup_at": "2024-02-29 10:00:00"}]


@pytest.fixture(scope="module")
def users(frame):
    return frame("users", USERS)


@pytest.fixture(scope="module")
def base_rows(frame, users, collect_by):
    return collect_by(transaction_velocity(frame("transactions", BASE), users, AS_OF), "transaction_id")


def test_output_columns_match_the_contract(frame, users):
    out = transaction_velocity(frame("transactions", []), users, AS_OF)
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert out.count() == 0


def test_first_transaction_has_no_history(base_rows):
    t1 = base_rows["t1"]
    assert (t1["n_txn_1h"], t1["n_txn_24h"], t1["amount_sum_24h"]) == (0, 0, 0.0)
    assert (t1["n_distinct_cards_24h"], t1["n_distinct_devices_7d"]) == (0, 0)
    assert t1["is_new_device"] is True and t1["is_new_country"] is True
    assert t1["amount_to_user_mean"] is None and t1["seconds_since_prev_txn"] is None
    assert t1["account_age_days"] == pytest.approx(1.0)
    assert t1["is_fraud"] is False
    assert t1["feature_cutoff_at"] is None  # no earlier input at all


def test_exact_values_from_earlier_transactions(base_rows):
    t2, t3, t5 = base_rows["t2"], base_rows["t3"], base_rows["t5"]
    assert (t2["n_txn_1h"], t2["n_txn_24h"], t2["amount_sum_24h"]) == (1, 1, 10.0)
    assert t2["n_distinct_cards_24h"] == 1 and t2["n_distinct_devices_7d"] == 1
    assert t2["is_new_device"] is False and t2["is_new_country"] is False
    assert t2["amount_to_user_mean"] == pytest.approx(3.0)
    assert t2["seconds_since_prev_txn"] == pytest.approx(1800.0)
    assert t2["feature_cutoff_at"] == base_rows["t1"]["transaction_at"]
    assert t2["account_age_days"] == pytest.approx(1 + 30 / 1440)

    # t2 was 90 minutes earlier: outside 1h, inside 24h
    assert (t3["n_txn_1h"], t3["n_txn_24h"], t3["amount_sum_24h"]) == (0, 2, 40.0)
    assert t3["n_distinct_cards_24h"] == 2 and t3["n_distinct_devices_7d"] == 1
    assert t3["is_new_device"] is True and t3["is_new_country"] is True
    assert t3["amount_to_user_mean"] == pytest.approx(1.0)
    assert t3["seconds_since_prev_txn"] == pytest.approx(5400.0)
    assert t3["is_fraud"] is True

    # 8 days later: nothing in 24h/7d, but the 90-day history still knows d1 and FR
    assert (t5["n_txn_24h"], t5["n_distinct_devices_7d"]) == (0, 0)
    assert t5["is_new_device"] is False and t5["is_new_country"] is False
    assert t5["amount_to_user_mean"] == pytest.approx(5.0 / 20.0)
    assert t5["seconds_since_prev_txn"] == pytest.approx(8 * 86400 + 11 * 3600 + 59 * 60 + 59)


def test_rows_at_or_after_as_of_are_not_emitted(base_rows):
    assert "t_at_as_of" not in base_rows
    assert set(base_rows) == {"t1", "t2", "t3", "t5", "tie_a", "tie_b"}


def test_same_instant_is_not_earlier_and_unknown_device_is_not_new(base_rows):
    a, b = base_rows["tie_a"], base_rows["tie_b"]
    assert a["n_txn_1h"] == 0 and b["n_txn_1h"] == 0
    # a transaction at the same instant is not an input: the cutoff stays strictly earlier
    for row in base_rows.values():
        assert row["feature_cutoff_at"] is None or row["feature_cutoff_at"] < row["transaction_at"], row
    assert a["account_age_days"] is None  # u2 is not in users
    assert b["is_new_device"] is False


def test_later_transactions_do_not_change_earlier_features(frame, users, collect_by, base_rows):
    later = BASE + [
        txn("t_later", "2024-03-01 12:00:01", 500.0, card="c9", device="d9", country="US"),
        txn("t_future", "2024-03-11 09:00:00", 77.0),
    ]
    rows = collect_by(transaction_velocity(frame("transactions", later), users, AS_OF), "transaction_id")
    for tid in ("t1", "t2", "t3"):
        assert rows[tid] == base_rows[tid], tid
    assert "t_future" not in rows
    # ... while the later one does see them
    assert rows["t_later"]["n_txn_1h"] == 1 and rows["t_later"]["n_distinct_cards_24h"] == 2


def test_hourly_run_scores_the_hour_with_the_same_features_as_training(frame, users, collect_by, base_rows):
    hourly = transaction_velocity(frame("transactions", BASE), users, datetime(2024, 3, 1, 13), hourly=True)
    rows = collect_by(hourly, "transaction_id")
    assert set(rows) == {"t3"}
    assert rows["t3"] == base_rows["t3"]
