"""Acting on breached thresholds: retrain requests in ``ml.promotion_log`` and the alert text.

Plain Python, no Airflow: ``MonitoringOperator`` (plugins) hands :func:`breach_alert` to the same
notifier path as failure alerts (``ecomflow_airflow.notifiers.deliver``: connections
``ecomflow_alerts_smtp`` / ``ecomflow_alerts_webhook``, off when absent) and emits the retrain
request Asset event for the models :func:`record_retrain_requests` returned.

Retrain requests are rows of ``ml.promotion_log`` with decision ``retrain_requested``, ``version``
the version that breached, ``decided_by = monitoring:<partition>`` and the breaches as the reason,
so "why was this model retrained?" is answered where every other decision about it is. All the
requests of one partition are replaced together: a re-run of the day gives the same rows (never a
second request), and a re-run that no longer breaches removes the day's request.
"""

from __future__ import annotations

import html
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from tasks.alerting import Alert
from tasks.monitoring.thresholds import Breach
from tasks.partitions import Partition
from tasks.warehouse import replace_partition

log = logging.getLogger(__name__)

RETRAIN_REQUESTED = "retrain_requested"
THRESHOLD_BREACHED = "threshold_breached"  # Alert.event of a monitoring alert


def requested_by(partition: Partition) -> str:
    """``decided_by`` of the day's retrain requests (their idempotency key with the decision)."""
    return f"monitoring:{partition.label}"


@dataclass(frozen=True)
class RetrainRequest:
    model: str
    version: str | None
    reason: str


def retrain_requests(breaches: list[Breach]) -> list[RetrainRequest]:
    """One request per model with a breach that asks for retraining, reasons joined."""
    by_model: dict[str, list[Breach]] = defaultdict(list)
    for breach in breaches:
        if breach.requests_retrain:
            assert breach.model is not None
            by_model[breach.model].append(breach)
    return [RetrainRequest(model, found[0].model_version, "; ".join(b.reason for b in found))
            for model, found in sorted(by_model.items())]


def record_retrain_requests(partition: Partition, breaches: list[Breach]) -> list[RetrainRequest]:
    """Replace the ``retrain_requested`` rows of ``partition`` in ``ml.promotion_log`` with one per
    model to retrain (none: the day's earlier requests, if any, are removed); the requests."""
    from tasks.train.registry import PROMOTION_LOG_TABLE, PROMOTION_LOG_TYPES

    requests = retrain_requests(breaches)
    first = {r.model: next(b for b in breaches if b.model == r.model and b.requests_retrain) for r in requests}
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = pd.DataFrame([{
        "model": r.model, "version": r.version or "", "decision": RETRAIN_REQUESTED, "reason": r.reason,
        "main_metric": first[r.model].metric, "value": first[r.model].value, "champion_version": None,
        "champion_value": None, "decided_by": requested_by(partition), "decided_at": now,
    } for r in requests], columns=list(PROMOTION_LOG_TYPES))
    for col in ("value", "champion_value"):
        rows[col] = pd.to_numeric(rows[col], errors="coerce").astype(float)
    rows["decided_at"] = pd.to_datetime(rows["decided_at"])
    replace_partition(PROMOTION_LOG_TABLE, rows, {"decision": RETRAIN_REQUESTED,
                                                  "decided_by": requested_by(partition)},
                      column_types=PROMOTION_LOG_TYPES)
    for r in requests:
        log.warning("%s: retrain requested (%s)", r.model, r.reason)
    return requests


@dataclass(frozen=True)
class BreachAlert(Alert):
    """A monitoring alert: the thresholds the day crossed and what was done about them.

    An :class:`~tasks.alerting.Alert` so the notifier path delivers it unchanged (subject, HTML
    and JSON payload are overridden here).
    """

    breaches: tuple[Breach, ...] = ()
    retrain_models: tuple[str, ...] = field(default=())

    @property
    def subject(self) -> str:
        models = sorted({b.model or "pipeline" for b in self.breaches})
        return (f"[ecomflow] monitoring {self.partition}: {len(self.breaches)} threshold(s) breached "
                f"({', '.join(models)})")

    def what_to_do(self) -> str:
        retrain = (f"Retraining was requested for {', '.join(self.retrain_models)} (ecomflow_retrain runs "
                   "on the request; ml.promotion_log has the reason). " if self.retrain_models else "")
        return (retrain + "Look at monitoring.realised_metrics / feature_drift / prediction_drift / "
                "pipeline_runs for the partition; quarantined rows are in the ingestion quarantine.")

    def text(self) -> str:
        lines = [self.subject, ""] + [f"- {b.reason}" for b in self.breaches]
        return "\n".join(lines + ["", self.what_to_do()])

    def html(self) -> str:
        items = "".join(f"<li>{html.escape(b.reason)}</li>" for b in self.breaches)
        return (f"<p>{html.escape(self.subject)}</p><ul>{items}</ul>"
                f"<p>{html.escape(self.what_to_do())}</p>")

    def payload(self) -> dict[str, Any]:
        return {**super().payload(), "text": self.text(),
                "breaches": [b.as_dict() for b in self.breaches],
                "retrain_models": list(self.retrain_models)}


def breach_alert(partition: Partition, breaches: list[Breach], *, dag_id: str, run_id: str,
                 task_id: str | None = None, log_url: str | None = None,
                 retrain_models: list[str] | None = None) -> BreachAlert:
    return BreachAlert(event=THRESHOLD_BREACHED, dag_id=dag_id, run_id=run_id, partition=partition.path_suffix,
                       task_id=task_id, log_url=log_url, breaches=tuple(breaches),
                       retrain_models=tuple(retrain_models or ()))


def act_on_thresholds(partition: Partition) -> dict[str, Any]:
    """Evaluate the day's thresholds and record the retrain requests; what the operator needs
    (JSON-able): ``breaches`` (dicts) and ``retrain_models``."""
    from tasks.monitoring.thresholds import evaluate_thresholds

    breaches = evaluate_thresholds(partition)
    requests = record_retrain_requests(partition, breaches)
    return {"breaches": [b.as_dict() for b in breaches], "retrain_models": [r.model for r in requests],
            "retrain_reasons": {r.model: r.reason for r in requests}}
