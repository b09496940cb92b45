"""thresholds.yml: validated with key paths; quarantine share and realised-metric breaches."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tasks.monitoring.pipeline_runs import record_task_run
from tasks.monitoring.tables import REALISED_METRICS, write_partition
from tasks.monitoring.thresholds import (
    QUARANTINE,
    REALISED,
    Thresholds,
    ThresholdsError,
    evaluate_thresholds,
    load_thresholds,
)
from tasks.partitions import Partition

D = date(2026, 3, 10)


def test_the_shipped_file_is_valid_and_covers_every_monitored_model() -> None:
    from tasks.monitoring.model_io import models

    assert set(load_thresholds().models) == set(models())


def test_a_misspelt_key_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "t.yml"
    path.write_text("drift:\n  feature_psi_mx: 0.3\nmodels:\n  risk:\n    realised: {metric: m, higher_is_better: maybe}\n")
    with pytest.raises(ThresholdsError) as err:
        load_thresholds(path)
    text = str(err.value)
    assert str(path) in text and "drift.feature_psi_mx" in text and "did you mean 'feature_psi_max'" in text
    assert "models.risk.realised.higher_is_better" in text


def test_quarantine_share_above_the_limit_and_rising(isolated_home) -> None:  # noqa: ANN001
    for i in range(1, 4):  # a quiet week: 1 % quarantined
        record_task_run("ingest.orders", Partition(D - timedelta(days=i)), 1000, 990, 10, 1.0)
    record_task_run("ingest.orders", Partition(D), 1000, 960, 40, 1.0)  # 4 %: under 5 %, but +3 points
    record_task_run("ingest.events", Partition(D), 100, 90, 10, 1.0)  # 10 %: over the limit
    record_task_run("score.x", Partition(D), None, 5, None, 1.0)  # no counts: not judged
    breaches = {b.metric: b for b in evaluate_thresholds(Partition(D))}
    assert set(breaches) == {"ingest.orders quarantined_share", "ingest.events quarantined_share"}
    assert breaches["ingest.events quarantined_share"].value == pytest.approx(0.10)
    assert breaches["ingest.orders quarantined_share"].limit == pytest.approx(0.03)
    assert all(b.kind == QUARANTINE and b.model is None and not b.requests_retrain for b in breaches.values())
    # a steady 1 % is no breach
    assert evaluate_thresholds(Partition(D - timedelta(days=1))) == []


def test_realised_metric_against_the_absolute_limit(isolated_home) -> None:  # noqa: ANN001
    rows = pd.DataFrame([
        {"dt": D, "model": "demand_forecaster", "model_version": "f1", "metric": "wape", "horizon_days": h,
         "value": v, "n_rows": n} for h, v, n in ((1, 1.2, 30), (7, 5.0, 10))])
    write_partition(REALISED_METRICS, rows, {"dt": D, "model": "demand_forecaster"})
    (breach,) = evaluate_thresholds(Partition(D))
    assert breach.kind == REALISED and breach.model_version == "f1" and breach.requests_retrain
    assert breach.value == pytest.approx((1.2 * 30 + 5.0 * 10) / 40)  # weighted over horizons, > 2.0
    strict = Thresholds.model_validate({"models": {"demand_forecaster": {"realised": {
        "metric": "wape", "higher_is_better": False, "absolute_limit": 1.3, "horizon_days": 1}}}})
    assert evaluate_thresholds(Partition(D), strict) == []  # horizon 1 alone: 1.2 <= 1.3


def _wape_rows(day: date, version: str, value: float, n: int = 30) -> None:
    rows = pd.DataFrame([{"dt": day, "model": "demand_forecaster", "model_version": version, "metric": "wape",
                          "horizon_days": 1, "value": value, "n_rows": n}])
    write_partition(REALISED_METRICS, rows, {"dt": day, "model": "demand_forecaster"})


def _forecaster(**realised: object) -> Thresholds:
    return Thresholds.model_validate({"models": {"demand_forecaster": {"realised": {
        "metric": "wape", "higher_is_better": False, **realised}}}})


def test_realised_metric_is_pooled_over_the_window(isolated_home) -> None:  # noqa: ANN001
    _wape_rows(D - timedelta(days=3), "f1", 9.0)  # outside a 3-day window
    _wape_rows(D - timedelta(days=2), "f1", 2.0)
    _wape_rows(D - timedelta(days=1), "f1", 2.0, n=60)
    _wape_rows(D, "f1", 1.0)
    one_day = _forecaster(absolute_limit=1.5)
    assert evaluate_thresholds(Partition(D), one_day) == []  # today alone: 1.0
    (breach,) = evaluate_thresholds(Partition(D), _forecaster(absolute_limit=1.5, window_days=3))
    assert breach.value == pytest.approx((2.0 * 30 + 2.0 * 60 + 1.0 * 30) / 120)
    assert "pooled over 3 days" in breach.reason


def test_a_version_without_rows_today_is_not_judged(isolated_home) -> None:  # noqa: ANN001
    _wape_rows(D - timedelta(days=1), "old", 5.0)  # a bad yesterday, nothing served for today
    assert evaluate_thresholds(Partition(D), _forecaster(absolute_limit=1.5, window_days=3)) == []


@pytest.mark.parametrize(("higher", "expected"), [(False, 1.0 + 0.1 + 0.35 * 1.0), (True, 1.0 - 0.1 - 0.35 * 1.0)])
def test_baseline_limit_adds_margin_and_tolerance(higher: bool, expected: float) -> None:
    cfg = Thresholds.model_validate({"models": {"m": {"realised": {
        "metric": "x", "higher_is_better": higher, "baseline_margin": 0.1, "baseline_tolerance": 0.35}}}})
    realised = cfg.models["m"].realised
    assert realised is not None and realised.baseline_limit(1.0) == pytest.approx(expected)


def test_the_shipped_forecaster_threshold_has_slack_over_its_holdout() -> None:
    cfg = load_thresholds().models["demand_forecaster"].realised
    assert cfg is not None and cfg.window_days > 1 and cfg.baseline_limit(1.0) > 1.0
