"""Serving a baseline that won: when the learned model loses on the holdout, scoring
serves the winning statsforecast baseline's forecasts and every row's model_version
names it. Real training (a deliberately under-trained model) on a DuckDB warehouse."""

from __future__ import annotations

from datetime import date

import numpy as np

from tasks.score import demand_forecasts as scoring
from tasks.train import demand_forecaster as demand
from tasks.train.common import load_artefact
from tasks.train.registry import champion
from tasks.warehouse import replace_partition
from tests.fixtures import synthetic_frames

D = date(2024, 3, 1)
WEAK = demand.DemandConfig(epochs=1, lr=1e-5, horizon_days=7)


def test_a_losing_model_is_never_served(isolated_home) -> None:
    sales = synthetic_frames.daily_item_sales(D, n_products=5, days=60, seed=4)
    replace_partition(demand.FEATURE_TABLE, sales, {"as_of_date": D, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    result = demand.train(D, "train-1", WEAK)
    assert result.status == "champion"
    served = result.version.split("-")[1].removeprefix("baseline_")
    assert served in demand.BASELINES, result.version  # the 1-epoch model lost
    assert result.version.startswith(f"demand_forecaster-baseline_{served}-{D.isoformat()}-")
    art = load_artefact(champion("demand_forecaster").artefact_uri)
    assert art.serving_strategy == f"baseline:{served}"
    assert art.extra_metrics["learned_metrics"]["wape"] > result.metrics["wape"]
    assert all(m["wape"] >= result.metrics["wape"] for m in result.baseline_metrics.values())

    rows = scoring.build_forecasts(D, "run-1")
    assert set(rows["model_version"]) == {result.version}
    panel = demand.to_panel(sales)
    direct = demand.baseline_forecasts(panel, panel.n_days, 7, (served,))[served]
    np.testing.assert_allclose(rows["p50"].to_numpy(), direct[..., 1].reshape(-1))
    assert ((rows["p10"] <= rows["p50"]) & (rows["p50"] <= rows["p90"])).all()
    assert len(rows) == 5 * 7 and rows["forecast_date"].min() == D
    assert scoring.score_demand(D, "run-1") == len(rows)
