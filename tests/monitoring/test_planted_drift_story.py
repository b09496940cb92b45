"""The planted price drift through the demand forecaster, at the tasks level (issue 11).

Real DuckDB, the real forecaster recipe (training, its input-reference hook, the registry's
promotion gate), the real scorer, ``run_monitoring`` and ``tasks.train.retrain.retrain`` (what
``ecomflow_retrain``'s tasks run). Only the two inputs Spark would build are made here with
pandas from the synthetic shop's order lines: ``marts.fct_daily_item_sales`` and the dense
90-day ``features.daily_item_sales`` partitions (the Spark job is tested on its own).

What this shows of the issue's sequence, and what it cannot:

- the drift is detected on the partition after the drift day (the forecaster's ``avg_price``
  PSI over the limit; the day before the drift it is under it), because a windowed input table
  is judged on its newest days (``tasks.monitoring.drift.recent_rows``);
- the retrain request is recorded in ``ml.promotion_log`` with the PSI as the reason, and the
  retrain trains a challenger on data up to the end of the breached day and lets the gate
  compare it with the champion on the same post-drift holdout (the decision is logged).
- Not shown: realised metrics dropping and recovering. The switch moves shown prices only
  (``tasks/ingest/synthetic/catalog.py``: demand follows the undrifted prices), so units sold,
  the forecaster's target, do not change, and on S the served candidate is a statsforecast
  baseline refitted on the latest history at each scoring. See docs/monitoring.md. The popularity
  drift (``drift_kind="popularity"``) shows that half: tests/monitoring/test_drift_story_popularity.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tasks.ingest.synthetic import DEFAULT_START, generate
from tasks.monitoring.actions import RETRAIN_REQUESTED, requested_by
from tasks.monitoring.run import run_monitoring
from tasks.monitoring.thresholds import FEATURE, default_thresholds
from tasks.partitions import Partition
from tasks.score.pipeline import run_scorer
from tasks.train import registry
from tasks.train.retrain import retrain
from tasks.warehouse import read_frame, replace_partition
from tests.monitoring.planting import daily_sales, plant_forecaster_features

pytestmark = pytest.mark.slow  # ~1 min: two trainings and two scorings of the forecaster on S

MODEL = "demand_forecaster"
DRIFT_DAY = 40
DRIFTED = (DEFAULT_START + timedelta(days=DRIFT_DAY)).date()  # the first day with the new prices
TRAINED_AS_OF = DRIFTED - timedelta(days=5)


def _psi(day: date) -> dict[str, float]:
    rows = read_frame("SELECT column_name, psi FROM monitoring.feature_drift WHERE dt = :d AND model = :m",
                      {"d": day, "m": MODEL})
    return dict(zip(rows["column_name"], rows["psi"], strict=True))


def test_price_hike_is_detected_requested_and_retrained(isolated_home) -> None:  # noqa: ANN001
    shop = generate("S", 42, drift_day=DRIFT_DAY)
    daily = daily_sales(shop)
    replace_partition("marts.fct_daily_item_sales", daily.assign(store_id=None, is_promo=False), {})
    categories = shop["products"][["product_id", "category"]]

    plant_forecaster_features(daily, categories, TRAINED_AS_OF)
    first = retrain(MODEL, TRAINED_AS_OF, "weekly__before")  # the champion, trained before the hike
    champion = first["champion_after"]
    assert first["status"] == "champion" and champion

    limit = default_thresholds().psi_max(MODEL, FEATURE)
    for day in (DRIFTED - timedelta(days=1), DRIFTED + timedelta(days=1)):
        plant_forecaster_features(daily, categories, day + timedelta(days=1))
        assert run_scorer("demand_forecasts", Partition(day), f"daily__{day}") > 0
        run_monitoring(Partition(day))

    before, after = _psi(DRIFTED - timedelta(days=1)), _psi(DRIFTED + timedelta(days=1))
    assert before["avg_price"] < limit < after["avg_price"]  # found the partition after the drift day
    assert after["units"] < limit  # what sold did not move
    requests = read_frame("SELECT * FROM ml.promotion_log WHERE decision = :d AND model = :m",
                          {"d": RETRAIN_REQUESTED, "m": MODEL})
    by_day = {r["decided_by"]: r for r in requests.to_dict("records")}
    request = by_day[requested_by(Partition(DRIFTED + timedelta(days=1)))]
    assert request["version"] == champion and "avg_price" in request["reason"] and "PSI" in request["reason"]
    assert not any("avg_price" in r["reason"] for by, r in by_day.items()
                   if by == requested_by(Partition(DRIFTED - timedelta(days=1))))

    # The request's as_of_date is the day after the breached partition (RetrainModelOperator).
    as_of = DRIFTED + timedelta(days=2)
    second = retrain(MODEL, as_of, "retrain__request")
    assert second["champion_before"] == champion
    challenger = registry.version_entry(MODEL, second["version"])
    assert challenger.data_end.date() == as_of  # trained on the hiked days too
    (decision,) = [r for r in registry.decisions(MODEL).to_dict("records")
                   if r["version"] == second["version"] and r["decided_by"] == "auto:retrain__request"]
    # The gate compared it with the champion on the same, post-drift holdout. (On S both are the
    # Croston baseline refitted on the same history, so the values tie and margin 0 promotes:
    # the drift did not make the champion worse, see the module docstring.)
    assert decision["champion_version"] == champion
    assert decision["value"] is not None and decision["champion_value"] is not None
    assert decision["decision"] in ("promoted", "kept_champion")
    if decision["decision"] == "promoted":  # the latest served partition now comes from it
        assert second["rescored"]["demand_forecasts"]["served_before"] == champion
