"""A small real DuckDB warehouse a report can be built from: monitoring rows over a week, a
registry with artefacts, and served outputs with their truth (the shapes the pipeline writes).

Values are drawn from a seeded RNG, so every test sees the same warehouse.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.monitoring.pipeline_runs import record_task_run
from tasks.monitoring.tables import FEATURE_DRIFT, PREDICTION_DRIFT, REALISED_METRICS, write_partition
from tasks.partitions import Partition
from tasks.score.serving_versions import TYPES as SERVING_VERSION_TYPES
from tasks.train.registry import REGISTRY_TYPES
from tasks.warehouse import replace_partition

D = date(2026, 3, 10)
DAYS = [D - timedelta(days=i) for i in range(6, -1, -1)]


def _at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour)


def _register(home: Path, model: str, version: str, status: str, history: list[float] | None,
              metrics: dict, baselines: dict, trained: date) -> None:
    folder = home / "artefacts" / model / version
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"model": model, "version": version, "metrics": metrics, "baseline_metrics": baselines}
    if history is not None:
        doc.update(loss_history=history, best_epoch=len(history) - 2)
    (folder / "metrics.json").write_text(json.dumps(doc))
    row = {"model": model, "version": version, "artefact_uri": str(folder), "config": "{}",
           "data_start": _at(trained - timedelta(days=30)), "data_end": _at(trained), "seed": 42,
           "metrics": json.dumps(metrics), "baseline_metrics": json.dumps(baselines), "status": status,
           # the wall clock of the training run: long after the (replayed) data, as in make run
           "trained_at": datetime(2026, 11, 30, 1, 54), "promoted_at": None, "promoted_by": None,
           "data_fingerprint": None, "code_fingerprint": None}
    replace_partition("ml.model_registry", pd.DataFrame([row]), {"model": model, "version": version},
                      column_types=REGISTRY_TYPES)


def plant_warehouse(home: Path) -> None:
    rng = np.random.default_rng(7)
    # --- registry + artefacts: two versions with curves, one served baseline without
    for model, metric in (("recommender", "hr@10"), ("session_intent", "pr_auc"), ("demand_forecaster", "wape"),
                          ("risk", "pr_auc")):
        _register(home, model, f"{model}-v1", "retired", [1.0, 0.7, 0.55, 0.5, 0.48], {metric: 0.30},
                  {"popularity": {metric: 0.20}}, D - timedelta(days=14))
        _register(home, model, f"{model}-v2", "champion", [0.9, 0.6, 0.5, 0.45, 0.44, 0.43], {metric: 0.35},
                  {"popularity": {metric: 0.21}}, D - timedelta(days=7))

    # trained on data after D: not in D's report
    _register(home, "recommender", "recommender-v3", "challenger", [0.8, 0.5], {"hr@10": 0.4}, {},
              D + timedelta(days=5))

    # point-in-time serving: v1 (since retired) served the forecaster's partition of D
    replace_partition("ml.serving_versions", pd.DataFrame([{
        "scorer": "demand_forecasts", "model": "demand_forecaster", "dt": D, "hr": None,
        "model_version": "demand_forecaster-v1", "run_id": "t", "recorded_at": _at(D + timedelta(days=1))}]), {},
        column_types=SERVING_VERSION_TYPES)

    # --- monitoring.realised_metrics: ranking metrics and coverage over the week, forecast horizons
    for day in DAYS:
        rows = [{"dt": day, "model": "recommender", "model_version": "recommender-v2",
                 "output_table": "serving.recommendations", "output_as_of_date": day - timedelta(days=6),
                 "metric": m, "value": v + rng.normal(0, 0.01), "n_rows": 120}
                for m, v in (("hr@10", 0.3), ("ndcg@10", 0.18), ("coverage@10", 0.42))]
        write_partition(REALISED_METRICS, pd.DataFrame(rows), {"dt": day, "model": "recommender"})
        rows = [{"dt": day, "model": "demand_forecaster", "model_version": "demand_forecaster-v2",
                 "output_table": "serving.demand_forecasts", "output_as_of_date": day - timedelta(days=h),
                 "metric": m, "horizon_days": h, "value": v * (1 + h / 10), "n_rows": 40}
                for h in (1, 3, 7) for m, v in (("wape", 0.4), ("interval_coverage_p10_p90", 0.8))]
        write_partition(REALISED_METRICS, pd.DataFrame(rows), {"dt": day, "model": "demand_forecaster"})
        # drift: the price feature shifts from the fifth day
        shifted = day >= DAYS[4]
        rows = [{"dt": day, "model": "session_intent", "model_version": "session_intent-v2",
                 "source_table": "features.session_features", "column_name": c, "column_kind": "numeric",
                 "psi": (0.6 if shifted and c == "avg_price" else 0.02), "js_distance": 0.1, "n_rows": 500,
                 "null_share": 0.0, "reference_null_share": 0.0, "reference_rows": 800}
                for c in ("avg_price", "n_views", "dwell_s")]
        write_partition(FEATURE_DRIFT, pd.DataFrame(rows), {"dt": day, "model": "session_intent"})
        rows = [{"dt": day, "model": "session_intent", "model_version": "session_intent-v2",
                 "source_table": "serving.session_intent", "column_name": "p_purchase", "column_kind": "numeric",
                 "psi": 0.05, "js_distance": 0.05, "n_rows": 500}]
        write_partition(PREDICTION_DRIFT, pd.DataFrame(rows), {"dt": day, "model": "session_intent"})

    # --- pipeline runs of the day
    record_task_run("ingest.load", Partition(D), 1000, 990, 10, 2.5)
    record_task_run("score.demand_forecasts", Partition(D), None, 80, None, 1.2)

    # --- forecasts and sales: 8 items, daily sales; forecasts served each day for 7 days ahead
    items = [f"p{i}" for i in range(8)]
    sales = [{"product_id": item, "store_id": "all", "sales_date": day, "units": float(rng.poisson(3 + i))}
             for i, item in enumerate(items) for day in (D - timedelta(days=k) for k in range(27, -1, -1))]
    replace_partition("marts.fct_daily_item_sales", pd.DataFrame(sales), {})
    forecasts = [{"item_id": item, "forecast_date": served + timedelta(days=h), "p10": max(0.0, 3 + i - 2.0),
                  "p50": 3.0 + i, "p90": 3 + i + 3.0, "price_p50": 1.0, "as_of_date": served,
                  "model_version": "demand_forecaster-v2", "run_id": "t", "scored_at": _at(served)}
                 for i, item in enumerate(items) for served in DAYS + [D + timedelta(days=1)] for h in range(7)]
    replace_partition("serving.demand_forecasts", pd.DataFrame(forecasts), {})

    # --- session intent scores vs outcomes (informative: buyers score higher)
    sessions = [f"s{i}" for i in range(400)]
    bought = rng.random(400) < 0.25
    p = np.clip(0.15 + 0.5 * bought + rng.normal(0, 0.15, 400), 0.01, 0.99)
    served_on = [DAYS[i % len(DAYS)] for i in range(400)]
    replace_partition("serving.session_intent", pd.DataFrame({
        "session_id": sessions, "p_purchase": p, "intent": np.where(p > 0.5, "buy", "browse"),
        "as_of_date": served_on, "as_of_hour": 12, "model_version": "session_intent-v2", "run_id": "t",
        "scored_at": [_at(d, 12) for d in served_on]}), {})
    replace_partition("marts.fct_session_summaries", pd.DataFrame({
        "session_id": sessions, "has_purchase": bought, "started_at": [_at(d, 11) for d in served_on]}), {})
