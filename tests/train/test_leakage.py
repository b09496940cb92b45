"""The leakage guard stops training on planted leaks and passes clean, real feature partitions."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from tasks.partitions import Partition
from tasks.train import registry
from tasks.train.leakage import LeakageError, check_training_inputs
from tasks.train.pipeline import train_if_due
from tasks.warehouse import replace_partition

AS_OF = date(2024, 3, 1)


def _velocity(n: int = 6) -> pd.DataFrame:
    at = [datetime(2024, 2, 28, 10) + timedelta(hours=i) for i in range(n)]
    return pd.DataFrame({
        "transaction_id": [f"t{i}" for i in range(n)],
        "user_id": "u1",
        "transaction_at": at,
        "amount": 10.0,
        "is_fraud": [i == 3 for i in range(n)],
        "feature_cutoff_at": [None] + at[:-1],  # each row saw only the previous transaction
        "as_of_date": AS_OF,
        "as_of_hour": pd.Series([None] * n, dtype="datetime64[us]"),
    })


def _write(frame: pd.DataFrame) -> None:
    replace_partition("features.transaction_velocity", frame, {"as_of_date": AS_OF, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP", "feature_cutoff_at": "TIMESTAMP"})


def test_clean_partition_passes(any_warehouse: str) -> None:
    _write(_velocity())
    assert check_training_inputs("risk", AS_OF) == 6


def test_planted_feature_leak_stops_training(any_warehouse: str) -> None:
    leaky = _velocity()
    leaky.loc[4, "feature_cutoff_at"] = leaky.loc[4, "transaction_at"]  # saw its own transaction
    _write(leaky)
    with pytest.raises(LeakageError, match=r"1 row\(s\) have feature_cutoff_at not before transaction_at.*t4"):
        train_if_due("risk", Partition(AS_OF - timedelta(days=1)), "run-leak", force=True)
    assert registry.champion("risk") is None  # nothing was trained or registered


def test_label_after_as_of_stops_training(isolated_home) -> None:
    late = _velocity()
    late.loc[5, "transaction_at"] = datetime(2024, 3, 1, 0, 0)  # exactly the as-of instant
    _write(late)
    with pytest.raises(LeakageError, match=r"transaction_at at or after the as-of instant.*t5"):
        check_training_inputs("risk", AS_OF)


def test_missing_cutoff_column_cannot_be_proven(isolated_home) -> None:
    _write(_velocity().drop(columns=["feature_cutoff_at"]))
    with pytest.raises(LeakageError, match="no column"):
        check_training_inputs("risk", AS_OF)


def test_session_guard_allows_the_last_event_of_a_session_without_purchase(isolated_home) -> None:
    """A non-buyer's label is known when the session ends, so its features may include the last
    event (cutoff == label time); a buyer's features must stop strictly before the purchase."""
    at = datetime(2024, 2, 29, 12)
    frame = pd.DataFrame({
        "session_id": ["no_buy", "buy_ok", "buy_leak"],
        "has_purchase": [False, True, True],
        "feature_cutoff_at": [at, at, at],
        "label_at": [at, at + timedelta(minutes=5), at],
        "as_of_date": AS_OF, "as_of_hour": pd.Series([None] * 3, dtype="datetime64[us]"),
    })
    replace_partition("features.session_features", frame, {"as_of_date": AS_OF, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    with pytest.raises(LeakageError, match=r"1 row\(s\).*buy_leak"):
        check_training_inputs("session_intent", AS_OF)
    replace_partition("features.session_features", frame.iloc[:2], {"as_of_date": AS_OF, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    assert check_training_inputs("session_intent", AS_OF) == 2
