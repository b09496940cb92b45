"""Table fingerprints: order-independent, warehouse-independent, sensitive to any change."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tasks.warehouse import replace_partition
from tasks.warehouse.fingerprint import diff_fingerprints, fingerprint_table, fingerprint_warehouse

DAY = dt.date(2026, 3, 1)


def _frame(order: list[int]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": order,
        "name": [f"n{i}" for i in order],
        "score": [i / 3 for i in order],
        "at": pd.to_datetime([f"2026-03-01 0{i}:00:00" for i in order]),
        "dt": [DAY] * len(order),
        "run_id": [f"run-{i}" for i in order],
    })


# Same rows on both warehouses must give the same digest, so this is computed once per module.
_DIGESTS: dict[str, str] = {}


def test_fingerprint_ignores_order_and_detects_changes(any_warehouse: str) -> None:
    replace_partition("serving.things", _frame([1, 2, 3]), {"dt": DAY})
    first = fingerprint_table("serving.things")
    replace_partition("serving.things", _frame([3, 1, 2]), {"dt": DAY})
    assert fingerprint_table("serving.things") == first
    _DIGESTS[any_warehouse] = first.digest
    if len(_DIGESTS) == 2:
        assert _DIGESTS["duckdb"] == _DIGESTS["postgres"]

    changed = _frame([1, 2, 3])
    changed.loc[1, "score"] = 0.5
    replace_partition("serving.things", changed, {"dt": DAY})
    assert fingerprint_table("serving.things").digest != first.digest

    # run_id can be left out: a re-run under another run id is then equivalent.
    renamed = _frame([1, 2, 3]).assign(run_id="other")
    replace_partition("serving.things", _frame([1, 2, 3]), {"dt": DAY})
    with_run = fingerprint_table("serving.things", ["run_id"])
    replace_partition("serving.things", renamed, {"dt": DAY})
    assert fingerprint_table("serving.things", ["run_id"]) == with_run
    assert fingerprint_table("serving.things") != first


def test_duplicates_are_counted_and_diffed(any_warehouse: str) -> None:
    replace_partition("raw.things", _frame([1, 2]), {"dt": DAY})
    before = fingerprint_warehouse(["raw"])
    replace_partition("raw.things", _frame([1, 2, 2]).assign(run_id="run-x"), {"dt": DAY})
    after = fingerprint_warehouse(["raw"])
    assert after["raw.things"].duplicate_rows == 1
    problems = diff_fingerprints(before, after)
    assert problems == ["raw.things: rows 2 -> 3, duplicate rows 0 -> 1, content changed"]
    assert diff_fingerprints(before, before) == []
