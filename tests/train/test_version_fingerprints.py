"""Model versions identify code + config + data (issue 10).

The data fingerprint on hand-made frames (what changes it and what must not), then real risk
trainings (torch) into a DuckDB warehouse: the same inputs give the same version, one changed
value in the training partition gives another, with the window and config unchanged.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from tasks.train import registry, risk
from tasks.train.common import DataWindow, make_version
from tasks.train.fingerprints import code_fingerprint, data_fingerprint
from tasks.train.risk import RiskConfig
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
TYPES = {"as_of_hour": "TIMESTAMP", "is_fraud": "BOOLEAN"}


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1", "u2", "u3"], "amount": [10.0, 20.5, 3.25],
                         "at": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 11:00", "2024-03-01 12:00"])})


def test_data_fingerprint_follows_content_not_order() -> None:
    base = data_fingerprint({"tx": _frame()})
    assert base == data_fingerprint({"tx": _frame()})
    shuffled = _frame().iloc[[2, 0, 1]].reset_index(drop=True)[["at", "user_id", "amount"]]
    assert data_fingerprint({"tx": shuffled}) == base  # row and column order are not content
    changed = _frame()
    changed.loc[1, "amount"] = 20.6
    assert data_fingerprint({"tx": changed}) != base
    assert data_fingerprint({"tx": _frame().iloc[:2]}) != base
    assert data_fingerprint({"tx": _frame().astype({"amount": "float32"})}) != base
    assert data_fingerprint({"tx": _frame().rename(columns={"amount": "value"})}) != base
    assert data_fingerprint({"other": _frame()}) != base  # the input's name is part of it
    # An absent input differs from an empty one, and a lookup mapping counts by content.
    assert data_fingerprint({"tx": _frame(), "events": None}) != data_fingerprint(
        {"tx": _frame(), "events": _frame().iloc[:0]})
    assert data_fingerprint({"cat": {"p1": "a"}}) != data_fingerprint({"cat": {"p1": "b"}})
    with pytest.raises(TypeError, match="'tx' is a list"):
        data_fingerprint({"tx": [1, 2]})


def test_data_fingerprint_ignores_summation_order_noise() -> None:
    """The same sums added in another row order differ in their last bits (0.1 + 0.2 is not
    0.3): seen between two identical `make run`s (uplift spend_30d 150.92000000000002 vs 150.92),
    which registered two versions of one model on the same data. A real change still counts."""
    base = data_fingerprint({"tx": _frame().assign(amount=[0.3, 150.92, -2.5e-7])})
    assert 0.1 + 0.2 != 0.3 and 150.92 + 2.842170943040401e-14 != 150.92
    noisy = _frame().assign(amount=[0.1 + 0.2, 150.92 + 2.842170943040401e-14, -2.5e-7 * (1 + 1e-15)])
    assert data_fingerprint({"tx": noisy}) == base
    assert data_fingerprint({"tx": _frame().assign(amount=[0.3, 150.93, -2.5e-7])}) != base
    assert data_fingerprint({"tx": _frame().assign(amount=[0.3, 150.92, -2.6e-7])}) != base
    with_nan = _frame().assign(amount=[float("nan"), float("inf"), 0.0])
    assert data_fingerprint({"tx": with_nan}) == data_fingerprint({"tx": with_nan.copy()})
    assert data_fingerprint({"tx": with_nan}) != data_fingerprint({"tx": with_nan.assign(amount=[1.0, float("inf"), 0.0])})


def test_version_hashes_data_and_code() -> None:
    window = DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1))
    v = make_version("risk", D, RiskConfig(), window, data="rows-1", code="code-1")
    assert v != make_version("risk", D, RiskConfig(), window, data="rows-2", code="code-1")
    assert v != make_version("risk", D, RiskConfig(), window, data="rows-1", code="code-2")
    assert len(code_fingerprint()) == 64 and code_fingerprint() == code_fingerprint()


def _load(frame: pd.DataFrame) -> None:
    replace_partition(risk.FEATURE_TABLE, frame, {"as_of_date": D, "as_of_hour": None}, column_types=TYPES)


def test_trainings_on_different_data_get_different_versions(isolated_home) -> None:
    cfg = RiskConfig(epochs=3)
    frame = synthetic_frames.transaction_velocity(D, seed=9)
    _load(frame)
    first = risk.train(D, "train-1", cfg)
    again = risk.train(D, "train-2", cfg)  # same inputs, config and code: same version (idempotent)
    assert first.version == again.version
    assert first.window == again.window
    frame.loc[0, "amount"] = frame.loc[0, "amount"] + 1.0  # one value of 2000 rows corrected
    _load(frame)
    corrected = risk.train(D, "train-3", cfg)
    assert corrected.window == first.window
    assert corrected.version != first.version
    stored = read_frame("SELECT version, data_fingerprint, code_fingerprint FROM ml.model_registry "
                        "WHERE model = 'risk'").set_index("version")
    assert {first.version, corrected.version} <= set(stored.index)
    assert stored.loc[first.version, "data_fingerprint"] != stored.loc[corrected.version, "data_fingerprint"]
    assert stored.loc[first.version, "code_fingerprint"] == code_fingerprint()
    entry = registry.version_entry("risk", corrected.version)
    assert entry.data_fingerprint == stored.loc[corrected.version, "data_fingerprint"]
    with pytest.raises(registry.UnknownVersionError, match="no version 'risk-nope'"):
        registry.version_entry("risk", "risk-nope")
