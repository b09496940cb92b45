"""Partition replace semantics on both warehouses: idempotent, exact, atomic."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tasks.warehouse import quote_ident, read_frame, replace_partition, table_exists


def _frame(day: dt.date, n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({
        "id": list(range(start, start + n)),
        "name": [f"row{i}" for i in range(start, start + n)],
        "score": [i / 10 for i in range(n)],
        "at": pd.to_datetime([f"{day} 0{i % 10}:00:00" for i in range(n)]),
        "flag": [i % 2 == 0 for i in range(n)],
        "dt": [day] * n,
    })


def test_replace_is_idempotent_and_exact(any_warehouse: str) -> None:
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    replace_partition("raw.things", _frame(d1, 3), {"dt": d1})
    replace_partition("raw.things", _frame(d2, 2, start=10), {"dt": d2})
    replace_partition("raw.things", _frame(d1, 3), {"dt": d1})  # re-run of d1
    counts = read_frame("SELECT dt, COUNT(*) AS n FROM raw.things GROUP BY dt ORDER BY dt")
    assert counts["n"].tolist() == [3, 2]
    # Replacing d1 with fewer rows removes the old ones and leaves d2 untouched.
    replace_partition("raw.things", _frame(d1, 1), {"dt": d1})
    counts = read_frame("SELECT dt, COUNT(*) AS n FROM raw.things GROUP BY dt ORDER BY dt")
    assert counts["n"].tolist() == [1, 2]
    row = read_frame("SELECT name, score, flag FROM raw.things WHERE id = :i", {"i": 10}).iloc[0]
    assert (row["name"], float(row["score"]), bool(row["flag"])) == ("row10", 0.0, True)


def test_rows_outside_the_partition_are_refused(any_warehouse: str) -> None:
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    with pytest.raises(ValueError, match="outside partition"):
        replace_partition("raw.things", _frame(d2, 2), {"dt": d1})
    assert not table_exists("raw.things")


def test_failed_write_keeps_previous_partition(any_warehouse: str) -> None:
    d1 = dt.date(2026, 1, 1)
    replace_partition("raw.things", _frame(d1, 3), {"dt": d1})
    bad = _frame(d1, 2)
    bad["id"] = ["not-a-number", "x"]  # cannot be inserted into the BIGINT column
    with pytest.raises(Exception):  # noqa: B017 - driver-specific error type
        replace_partition("raw.things", bad, {"dt": d1})
    assert read_frame("SELECT COUNT(*) AS n FROM raw.things")["n"].iloc[0] == 3


def test_new_columns_are_added(any_warehouse: str) -> None:
    d1, d2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    replace_partition("raw.things", _frame(d1, 2), {"dt": d1})
    wider = _frame(d2, 2).assign(extra="x")
    replace_partition("raw.things", wider, {"dt": d2})
    out = read_frame("SELECT dt, extra FROM raw.things ORDER BY dt")
    assert out["extra"].isna().sum() == 2 and (out["extra"] == "x").sum() == 2


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", "1abc", "a-b", "", "a" * 64])
def test_identifiers_are_validated(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        quote_ident(bad)
