"""Row validation: every bad row is rejected with a reason naming the column; good rows pass typed."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from tasks.ingest.pii import hash_pii_columns, keyed_hash
from tasks.ingest.schema import entity
from tasks.ingest.validate import SchemaError, validate_partition

START, END = datetime(2026, 1, 5), datetime(2026, 1, 6)


def _events(**overrides: list) -> pd.DataFrame:
    base = {
        "event_id": ["e1", "e2", "e3"],
        "session_id": ["s1", "s1", "s2"],
        "user_id": ["u1", "u1", None],
        "event_type": ["view", "cart", "search"],
        "product_id": ["p1", "p1", None],
        "query": [None, None, "red shoes"],
        "price": ["9.5", "9.5", None],
        "device": ["mobile", "mobile", "desktop"],
        "event_at": ["2026-01-05 10:00:00", "2026-01-05 10:01:00", "2026-01-05 23:59:59"],
        "_source_file": ["events.csv"] * 3,
        "_source_row": [1, 2, 3],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_good_rows_are_accepted_and_typed() -> None:
    result = validate_partition(entity("events"), _events(), START, END)
    assert result.rejected.empty
    assert len(result.accepted) == 3
    assert result.accepted["price"].dtype == float
    assert str(result.accepted["event_at"].dtype).startswith("datetime64")


@pytest.mark.parametrize(
    ("overrides", "bad_row", "reason"),
    [
        ({"event_id": ["e1", None, "e3"]}, 2, "event_id: required value is missing"),
        ({"event_type": ["view", "click", "search"]}, 2, "event_type: 'click' is not one of"),
        ({"price": ["9.5", "-1", None]}, 2, "price: must be > 0"),
        ({"price": ["9.5", "abc", None]}, 2, "price: cannot parse as float"),
        ({"event_at": ["2026-01-05 10:00:00", "2026-01-07 10:00:00", "2026-01-05 23:59:59"]}, 2,
         "future timestamp"),
        ({"event_at": ["2026-01-05 10:00:00", "2026-01-04 10:00:00", "2026-01-05 23:59:59"]}, 2,
         "before the partition window"),
        ({"event_at": ["2026-01-05 10:00:00", "yesterday-ish", "2026-01-05 23:59:59"]}, 2,
         "event_at: cannot parse as timestamp"),
        ({"event_id": ["e1", "e1", "e3"]}, 2, "duplicate key"),
        ({"product_id": ["p1", None, None]}, 2, "product_id: required for view/cart/purchase"),
    ],
)
def test_bad_rows_are_rejected_with_reason(overrides: dict, bad_row: int, reason: str) -> None:
    result = validate_partition(entity("events"), _events(**overrides), START, END)
    assert len(result.accepted) + len(result.rejected) == 3  # nothing lost
    assert result.rejected["_source_row"].tolist() == [bad_row]
    assert reason in result.rejected["_reason"].iloc[0]


def test_missing_required_column_rejects_the_partition_naming_file_and_column() -> None:
    frame = _events().drop(columns=["session_id"])
    with pytest.raises(SchemaError, match=r"events\.csv.*session_id"):
        validate_partition(entity("events"), frame, START, END)


def test_order_line_quantities() -> None:
    frame = pd.DataFrame({
        "order_id": ["o1", "o1", "o2", "o3"], "line_number": [1, 2, 1, 1], "user_id": ["u"] * 4,
        "product_id": ["p"] * 4, "quantity": [2, -1, 0, 10**7], "unit_price": [1.0] * 4,
        "is_cancellation": [False, False, False, False],
        "ordered_at": ["2026-01-05 01:00:00"] * 4,
    })
    result = validate_partition(entity("order_lines"), frame, START, END)
    assert len(result.accepted) == 1
    reasons = " | ".join(result.rejected["_reason"])
    assert "negative on a non-cancellation" in reasons
    assert "must not be 0" in reasons
    assert "absolute value above" in reasons


def test_pii_is_hashed_with_a_key_and_clear_values_dropped() -> None:
    frame = pd.DataFrame({"user_id": ["u1"], "email": ["Ann@Example.com"], "ip": ["10.0.0.1"]})
    out = hash_pii_columns(frame, key=b"k1")
    assert "email" not in out.columns
    assert "ip" not in out.columns
    assert out["email_hash"].iloc[0] == keyed_hash("ann@example.com", b"k1")
    assert out["email_hash"].iloc[0] != keyed_hash("ann@example.com", b"k2")
    assert "Ann@Example.com" not in out.to_string()
