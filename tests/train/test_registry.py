"""Registry promotion logic (champion / challenger / retired), idempotence and evaluations."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from tasks.train import registry
from tasks.train.common import DataWindow
from tasks.warehouse import read_frame


def _register(version: str, value: float, champion_value: float | None, *, end: date = date(2024, 3, 1),
              higher: bool = True) -> str:
    window = DataWindow(datetime(2024, 1, 1), datetime(end.year, end.month, end.day))
    return registry.register(
        model="toy", version=version, artefact_uri=f"/nowhere/{version}", config={"seed": 1},
        window=window, seed=1, metrics={"m": value, "aux": 0.5}, baselines={"base": {"m": 0.1, "aux": 0.4}},
        main_metric="m", higher_is_better=higher, champion_value=champion_value,
        as_of_date=end, run_id="run-1",
    )


def _statuses() -> dict[str, str]:
    return {e.version: e.status for e in registry.entries("toy")}


def test_promotion_challenger_and_retirement(isolated_home) -> None:
    assert registry.champion("toy") is None
    assert _register("v1", 0.50, None) == "champion"
    # v2 is worse than v1 measured on v2's holdout -> challenger, v1 stays.
    assert _register("v2", 0.40, 0.45) == "challenger"
    assert _statuses() == {"v1": "champion", "v2": "challenger"}
    # v3 ties v1 on the new holdout -> promoted (>= with margin 0); v1 retired.
    assert _register("v3", 0.45, 0.45) == "champion"
    assert _statuses() == {"v1": "retired", "v2": "challenger", "v3": "champion"}
    champ = registry.champion("toy")
    assert champ is not None
    assert champ.version == "v3"
    assert champ.promoted_by == "auto:run-1"
    assert champ.metrics == {"m": 0.45, "aux": 0.5}
    assert champ.baseline_metrics["base"]["m"] == 0.1


def test_reregistering_a_version_replaces_its_row(isolated_home) -> None:
    _register("v1", 0.5, None)
    _register("v1", 0.5, 0.5)
    _register("v1", 0.5, 0.5)
    rows = read_frame("SELECT version, status FROM ml.model_registry WHERE model = 'toy'")
    assert rows.to_dict("records") == [{"version": "v1", "status": "champion"}]
    evals = read_frame("SELECT metric, value, baseline, baseline_value FROM ml.evaluations ORDER BY metric")
    assert evals["metric"].tolist() == ["aux", "m"]  # no duplicate rows, no self-comparison
    assert evals.loc[evals["metric"] == "m", "baseline_value"].item() == pytest.approx(0.1)


def test_evaluations_include_previous_champion(isolated_home) -> None:
    _register("v1", 0.5, None)
    _register("v2", 0.6, 0.55)
    rows = read_frame("SELECT baseline, baseline_value FROM ml.evaluations WHERE version = 'v2' "
                      "AND metric = 'm' ORDER BY baseline")
    assert rows.to_dict("records") == [{"baseline": "base", "baseline_value": pytest.approx(0.1)},
                                       {"baseline": "champion:v1", "baseline_value": pytest.approx(0.55)}]


def test_margin_and_lower_is_better(isolated_home, monkeypatch) -> None:
    from tasks import settings

    assert registry.should_promote(0.20, 0.25, higher_is_better=False, margin=0.0)
    assert not registry.should_promote(0.26, 0.25, higher_is_better=False, margin=0.0)
    assert not registry.should_promote(0.51, 0.50, higher_is_better=True, margin=0.02)
    assert registry.should_promote(0.52, 0.50, higher_is_better=True, margin=0.02)
    assert registry.should_promote(float("nan"), None, higher_is_better=True, margin=0.0)
    assert not registry.should_promote(float("nan"), 0.5, higher_is_better=True, margin=0.0)
    monkeypatch.setenv("ECOMFLOW_PROMOTION_MARGIN", "0.1")
    settings.reset()
    _register("v1", 0.5, None)
    assert _register("v2", 0.55, 0.5) == "challenger"


def test_is_training_due(isolated_home) -> None:
    assert registry.is_training_due("toy", date(2024, 3, 1))
    _register("v1", 0.5, None, end=date(2024, 3, 1))
    assert not registry.is_training_due("toy", date(2024, 3, 1))
    assert not registry.is_training_due("toy", date(2024, 3, 7))
    assert registry.is_training_due("toy", date(2024, 3, 8))  # train_every_days defaults to 7


def test_insane_version_never_becomes_champion(isolated_home) -> None:
    # Not even as the first version, when there is no champion to compare with.
    assert _register("v0", float("inf"), None) == "challenger"
    assert registry.champion("toy") is None
    assert _register("v1", 0.50, None) == "champion"
    assert _register("v2", float("nan"), 0.45) == "challenger"
    assert registry.champion("toy").version == "v1"
    log = registry.decisions("toy")
    row = log[log["version"] == "v2"].iloc[0]
    assert row["decision"] == "rejected_sanity" and "not a finite number" in row["reason"]


def test_decision_log_explains_each_registration(isolated_home) -> None:
    # Below its baseline (0.1): never served, not even as the first version.
    assert _register("v0", 0.05, None) == "challenger"
    assert registry.champion("toy") is None
    _register("v1", 0.50, None)
    _register("v2", 0.40, 0.45)
    _register("v3", 0.50, 0.45)
    log = registry.decisions("toy").set_index("version")
    assert log.loc["v0", "decision"] == "rejected_baseline" and "loses to baseline base" in log.loc["v0", "reason"]
    assert log.loc["v1", "decision"] == "promoted" and "serves learned" in log.loc["v1", "reason"]
    assert log.loc["v2", "decision"] == "kept_champion" and "does not beat champion v1" in log.loc["v2", "reason"]
    assert log.loc["v3", "decision"] == "promoted" and log.loc["v3", "champion_version"] == "v1"


def test_rollback_reactivates_previous_champion(isolated_home) -> None:
    with pytest.raises(registry.RollbackError, match="no earlier champion"):
        registry.rollback("toy", by="tester")
    _register("v1", 0.50, None)
    _register("v2", 0.40, 0.45)  # challenger: never a champion, so never a rollback target
    _register("v3", 0.60, 0.50)
    assert registry.champion("toy").version == "v3"
    back = registry.rollback("toy", by="tester")
    assert back.version == "v1" and back.promoted_by == "rollback:tester"
    assert _statuses() == {"v1": "champion", "v2": "challenger", "v3": "retired"}
    # Rolling back again goes to the champion before that: v3 (most recently promoted other version).
    assert registry.rollback("toy", by="tester").version == "v3"
    log = registry.decisions("toy")
    assert list(log[log["decision"] == "rolled_back"]["version"]) == ["v1", "v3"]


def test_unavailable_metrics_are_stored_as_null(any_warehouse) -> None:
    """A metric that could not be computed (NaN: price WAPE without prices; inf) reaches the
    registry, the evaluations and the XCom summary as null, never as invalid JSON."""
    import json

    from tasks.train.common import json_safe

    window = DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1))
    metrics = {"m": 0.5, "price_wape": float("nan"), "spread": float("inf")}
    baselines = {"base": {"m": 0.1, "price_wape": float("nan")}}
    status = registry.register(
        model="toy", version="v1", artefact_uri="/nowhere/v1", config={"seed": 1}, window=window, seed=1,
        metrics=metrics, baselines=baselines, main_metric="m", higher_is_better=True,
        champion_value=float("nan"), as_of_date=date(2024, 3, 1), run_id="run-nan")
    assert status == "champion"
    entry = registry.champion("toy")
    assert entry.metrics == {"m": 0.5, "price_wape": None, "spread": None}
    assert entry.baseline_metrics == {"base": {"m": 0.1, "price_wape": None}}
    evals = read_frame("SELECT metric, value, baseline_value FROM ml.evaluations ORDER BY metric")
    wape = evals[evals["metric"] == "price_wape"].iloc[0]
    assert wape["value"] is None or pd.isna(wape["value"])
    assert evals["value"].dropna().map(math.isfinite).all()
    summary = json_safe({"metrics": metrics, "n": np.float64("nan"), "nested": [np.float32(1.5)]})
    assert json.loads(json.dumps(summary, allow_nan=False)) == {
        "metrics": {"m": 0.5, "price_wape": None, "spread": None}, "n": None, "nested": [1.5]}


def test_registration_is_one_transaction(any_warehouse) -> None:
    """A training task that fails after registering, but before its transaction commits, leaves
    nothing that makes its retry skip training; a committed registration is found by the retry."""
    window = DataWindow(datetime(2024, 1, 1), datetime(2024, 3, 1))
    kwargs = dict(model="toy", version="v1", artefact_uri="/nowhere/v1", config={"seed": 1}, window=window,
                  seed=1, metrics={"m": 0.5}, baselines={"base": {"m": 0.1}}, main_metric="m",
                  higher_is_better=True, champion_value=None, as_of_date=date(2024, 3, 1), run_id="run-1")
    def register_then_crash() -> None:
        with registry.transaction("toy") as conn:  # the caller's transaction, under the registry lock
            assert registry.register(**kwargs, conn=conn) == "champion"
            raise RuntimeError("worker lost after the registry row was written")

    with pytest.raises(RuntimeError, match="worker lost"):
        register_then_crash()
    assert registry.entries("toy") == []
    assert registry.decisions("toy").empty
    assert registry.is_training_due("toy", date(2024, 3, 1))
    assert registry.registered_by_run("toy", "run-1") is None

    registry.register(**kwargs)
    own = registry.registered_by_run("toy", "run-1")
    assert own is not None and own.version == "v1" and own.status == "champion"
    assert registry.registered_by_run("toy", "run-2") is None
    assert len(read_frame("SELECT * FROM ml.evaluations WHERE model = 'toy'")) == 1


def test_evaluations_of_one_version_on_another_dataset_keep_its_holdout_rows(isolated_home) -> None:
    """`ecomflow evaluate` copies a model's rows under ``dataset = <label>``: that must not replace
    the holdout rows the registration wrote for the same model, version and day (nor the reverse)."""
    _register("v1", 0.50, None)
    kwargs = {"model": "toy", "version": "v1", "as_of_date": date(2024, 3, 1), "main_metric": "m",
              "champion_version": None, "champion_value": None}
    registry.write_evaluations(metrics={"m": 0.7}, baselines={"base": {"m": 0.2}}, dataset="online_retail", **kwargs)
    rows = read_frame("SELECT dataset, metric, value FROM ml.evaluations WHERE model = 'toy'")
    assert sorted(set(rows["dataset"])) == ["holdout", "online_retail"]
    assert sorted(rows.loc[rows["dataset"] == "holdout", "metric"]) == ["aux", "m"]
    registry.write_evaluations(metrics={"m": 0.6}, baselines={"base": {"m": 0.2}}, dataset="online_retail", **kwargs)
    again = read_frame("SELECT dataset, value FROM ml.evaluations WHERE model = 'toy' AND metric = 'm'")
    assert sorted(again.itertuples(index=False, name=None)) == [("holdout", 0.5), ("online_retail", 0.6)]
