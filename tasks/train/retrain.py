"""Retraining, re-scoring and rollback: what ``ecomflow_retrain`` and ``ecomflow rollback`` run.

The weekly retrain trains a challenger for every model on data up to the end of
its data interval, lets the registry's promotion gate decide (same holdout as
the champion and the baselines, margin, sanity checks), and re-scores the
latest serving partition of every scorer whose champion changed, so BI sees the
new champion's outputs without waiting for the next daily run. A rollback
re-activates the previous champion and re-scores the same way.

Scoring is point-in-time (``tasks/score/serving_versions.py``): a plain re-run of a partition
keeps the version that served it. These re-scores are the explicit exception (``rescore=True``),
so each one is a ``rescored`` decision in ``ml.promotion_log`` naming the partitions, the version
they now serve and the version that served them before.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from tasks.partitions import Partition
from tasks.score.pipeline import SCORER_MODEL, SCORERS, run_scorer
from tasks.score.serving_versions import recorded_version
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

# model -> scorers that serve it, derived from the scorers' own map (the risk scorer falls back to
# rules without a model)
MODEL_SCORERS: dict[str, tuple[str, ...]] = {
    model: tuple(s for s, m in SCORER_MODEL.items() if m == model) for model in dict.fromkeys(SCORER_MODEL.values())
}


def retrain_partition(as_of_date: date) -> Partition:
    """The daily partition whose as-of instant is ``as_of_date`` 00:00 (its last day of data)."""
    return Partition(as_of_date - timedelta(days=1))


def latest_scored_partition(scorer: str) -> Partition | None:
    """The most recent partition present in the scorer's serving table, or None."""
    table = f"serving.{scorer}"
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; known: {sorted(SCORERS)}")
    if not table_exists(table):
        return None
    if SCORERS[scorer][2] == "hourly":
        found = read_frame(f"SELECT MAX(as_of_hour) AS h FROM {table}")["h"].iloc[0]
        if found is None or str(found) == "NaT":
            return None
        return Partition(found.date(), found.hour)
    found = read_frame(f"SELECT MAX(as_of_date) AS d FROM {table}")["d"].iloc[0]
    if found is None or str(found) == "NaT":
        return None
    return Partition(found - timedelta(days=1))  # daily serving rows carry as_of_date = dt + 1


def _rescore(scorer: str, partition: Partition, run_id: str) -> tuple[dict[str, Any], str]:
    """Score ``partition`` with the champion; (what ``rescore_*`` returns for it, its log line)."""
    before = recorded_version(scorer, partition)
    rows = run_scorer(scorer, partition, run_id, rescore=True)
    return ({"partition": partition.label, "rows": rows, "served_before": before},
            f"{scorer} {partition.label} (was {before or 'not recorded'})")


def _log_rescored(model: str, replaced: list[str], decided_by: str) -> None:
    from tasks.train.registry import champion, log_decision

    entry = champion(model)
    if replaced and entry is not None:
        log_decision(model=model, version=entry.version, decision="rescored", decided_by=decided_by,
                     reason=f"explicit re-score with champion {entry.version}: {'; '.join(replaced)}",
                     main_metric=None, value=None, champion_version=entry.version, champion_value=None)


def rescore_latest(model: str, run_id: str, decided_by: str) -> dict[str, Any]:
    """Re-score the latest serving partition of each scorer of ``model`` with its champion
    (an explicit re-score: it replaces the version that served the partition) and log it in
    ``ml.promotion_log`` as ``rescored`` by ``decided_by`` (one row per call, replaced on a re-run)."""
    rows: dict[str, Any] = {}
    replaced = []
    for scorer in MODEL_SCORERS[model]:
        partition = latest_scored_partition(scorer)
        if partition is None:
            log.info("%s: nothing served yet; nothing to re-score", scorer)
            continue
        rows[scorer], line = _rescore(scorer, partition, run_id)
        replaced.append(line)
    _log_rescored(model, replaced, decided_by)
    return rows


def rescore_partition(scorer: str, partition: Partition, run_id: str, decided_by: str) -> dict[str, Any]:
    """Re-score one given partition with the champion of ``scorer``'s model and log it as
    ``rescored`` by ``decided_by``: what a daily or hourly run triggered with ``rescore`` (the
    Trigger form in the Airflow UI) does for a past partition, instead of reproducing the
    version that served it."""
    result, line = _rescore(scorer, partition, run_id)
    _log_rescored(SCORER_MODEL[scorer], [line], decided_by)
    log.info("%s: %s re-scored by %s", scorer, line, decided_by)
    return result


def retrain(model: str, as_of_date: date, run_id: str) -> dict[str, Any]:
    """Train a challenger as of ``as_of_date``; re-score when the champion changed."""
    from tasks.train.pipeline import train_if_due
    from tasks.train.registry import champion

    before = champion(model)
    summary = train_if_due(model, retrain_partition(as_of_date), run_id, force=True)
    after = champion(model)
    changed = (after is not None) and (before is None or before.version != after.version)
    summary["champion_before"] = before.version if before else None
    summary["champion_after"] = after.version if after else None
    summary["rescored"] = rescore_latest(model, run_id, decided_by=f"retrain:{run_id}") if changed else {}
    return summary


def rollback_and_rescore(model: str, by: str, run_id: str | None = None) -> dict[str, Any]:
    """Re-activate the previous champion of ``model`` and re-score its latest partitions."""
    from tasks.train.registry import rollback

    if model not in MODEL_SCORERS:
        raise ValueError(f"unknown model {model!r}; known: {sorted(MODEL_SCORERS)}")
    entry = rollback(model, by=by)
    rescored = rescore_latest(model, run_id or f"rollback__{entry.version}", decided_by=f"rollback:{by}")
    return {"model": model, "champion": entry.version, "rescored": rescored}
