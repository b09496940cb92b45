"""``run_monitoring(partition)``: all monitoring tables for one daily partition.

Command line (what a DAG task calls; prints one JSON summary)::

    python -m tasks.monitoring 2026-02-28

Each part (realised metrics, feature drift, prediction drift) replaces its own ``(dt, model)``
partitions, so a re-run of the day gives the same rows. A part whose inputs do not exist (no
serving table yet, a source without payments, a truth window still open, a version trained
before references were stored) is skipped for that model with the reason in the log and in the
summary; it never fails the run. ``monitoring.pipeline_runs`` is written by the operators as
each task finishes (``record_task_run``), not here. Last, the thresholds are judged on the
tables (``tasks/monitoring/thresholds.py``): the summary's ``breaches`` and ``retrain_models``
(recorded as ``retrain_requested`` in ``ml.promotion_log``; ``tasks/monitoring/actions.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from tasks.monitoring.actions import act_on_thresholds
from tasks.monitoring.drift import feature_drift, prediction_drift
from tasks.monitoring.realised import RealisedConfig, compute_realised_metrics
from tasks.partitions import Partition
from tasks.warehouse import session

log = logging.getLogger(__name__)


def run_monitoring(partition: Partition, cfg: RealisedConfig | None = None) -> dict[str, Any]:
    """Compute and write every monitoring table for the daily ``partition``; a JSON-able summary
    (rows written or the skip reasons, per part and model)."""
    if partition.is_hourly:
        raise ValueError(f"monitoring runs on daily partitions, got {partition.label}")
    day = partition.dt
    summary: dict[str, Any] = {"partition": partition.label, "realised_metrics": {}, "feature_drift": {},
                               "prediction_drift": {}}
    # One DuckDB instance for the run's dozens of small reads and partition writes (each connect
    # of its own built and dropped one: ~35 ms apiece; tasks/warehouse/engine.py::session).
    with session():
        for model, evaluation in compute_realised_metrics(day, cfg).items():
            summary["realised_metrics"][model] = (
                {"skipped": evaluation.skipped} if evaluation.skipped
                else {"rows": len(evaluation.rows), "notes": evaluation.notes})
        for part, compute in (("feature_drift", feature_drift), ("prediction_drift", prediction_drift)):
            for model, result in compute(day).items():
                summary[part][model] = {"rows": len(result.rows), "skipped": result.skipped}
        # Thresholds (tasks/monitoring/thresholds.yml) on what was just written: breaches, and the
        # retrain requests recorded in ml.promotion_log; the operator alerts and triggers the retrain.
        summary.update(act_on_thresholds(partition))
    log.info("monitoring %s: %s", partition.label, json.dumps(summary, default=str))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.monitoring", description=__doc__.split("\n")[0])
    parser.add_argument("partition", help="daily partition YYYY-MM-DD")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(json.dumps(run_monitoring(Partition.parse(args.partition)), indent=2, default=str))
    return 0
