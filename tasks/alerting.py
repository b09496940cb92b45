"""What an alert says, whoever delivers it (e-mail, webhook).

Plain Python, no Airflow imports: ``plugins/ecomflow_airflow/notifiers.py`` turns an Airflow
context (a failed task, a missed deadline) into an :class:`Alert` here and hands its subject,
body and JSON payload to Airflow's notifiers. Alerts are off until an Airflow connection
named :data:`SMTP_CONN_ID` or :data:`WEBHOOK_CONN_ID` exists; every secret (SMTP password,
webhook token) lives in that connection, never here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from tasks.partitions import Partition

SMTP_CONN_ID = "ecomflow_alerts_smtp"
WEBHOOK_CONN_ID = "ecomflow_alerts_webhook"
DEFAULT_FROM = "ecomflow@localhost"
# Enough to recognise the error in a mail subject line or a chat message; the log has the rest.
ERROR_SUMMARY_CHARS = 500

TASK_FAILED = "task_failed"
DEADLINE_MISSED = "deadline_missed"


@dataclass(frozen=True)
class Alert:
    """One message to on-call: a task that failed for good, or a run that is late."""

    event: str  # TASK_FAILED | DEADLINE_MISSED
    dag_id: str
    run_id: str
    partition: str | None = None
    task_id: str | None = None
    try_number: int | None = None
    log_url: str | None = None
    error: str | None = None
    deadline: str | None = None  # ISO instant the run should have finished by

    @property
    def subject(self) -> str:
        where = self.partition or self.run_id
        if self.event == DEADLINE_MISSED:
            return f"[ecomflow] {self.dag_id} {where}: not finished by {self.deadline}"
        return f"[ecomflow] {self.dag_id}.{self.task_id} failed ({where})"

    def fields(self) -> list[tuple[str, str]]:
        """The alert's facts as (label, value) pairs, in reading order, without empty ones."""
        pairs = [
            ("DAG", self.dag_id),
            ("task", self.task_id),
            ("run id", self.run_id),
            ("partition", self.partition),
            ("try", None if self.try_number is None else str(self.try_number)),
            ("deadline", self.deadline),
            ("error", self.error),
            ("log", self.log_url),
        ]
        return [(label, value) for label, value in pairs if value]

    def text(self) -> str:
        return "\n".join([self.subject, ""] + [f"{label}: {value}" for label, value in self.fields()]
                         + ["", self.what_to_do()])

    def html(self) -> str:
        rows = "".join(
            f"<tr><th align='left'>{html.escape(label)}</th><td>"
            + (f"<a href='{html.escape(value)}'>{html.escape(value)}</a>" if label == "log"
               else f"<pre>{html.escape(value)}</pre>" if label == "error" else html.escape(value))
            + "</td></tr>"
            for label, value in self.fields()
        )
        return (f"<p>{html.escape(self.subject)}</p><table>{rows}</table>"
                f"<p>{html.escape(self.what_to_do())}</p>")

    def what_to_do(self) -> str:
        if self.event == DEADLINE_MISSED:
            return ("The run is still going or stuck: open it in the Airflow UI, look at the running or "
                    "queued tasks (a full pool, a stopped worker or scheduler) and at their logs.")
        return ("Open the task log (the DAG's Docs panel says what to do for each task group); after "
                "fixing the cause, Clear the task: it replaces exactly its partition.")

    def payload(self) -> dict[str, Any]:
        """JSON body of the webhook: ``text`` for chat webhooks that show one field, plus every fact."""
        return {
            "text": self.text(),
            "event": self.event,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "partition": self.partition,
            "try_number": self.try_number,
            "log_url": self.log_url,
            "error": self.error,
            "deadline": self.deadline,
        }


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def partition_label(start: datetime | str | None, end: datetime | str | None) -> str | None:
    """``dt=YYYY-MM-DD[/hr=HH]`` for a daily or hourly data interval (the lake's partition
    names), else the interval itself (e.g. the weekly retrain)."""
    start, end = _as_datetime(start), _as_datetime(end)
    if start is None:
        return None
    if end is None:
        return start.isoformat()
    if end - start == timedelta(hours=1):
        return Partition.hourly_from_interval(start).path_suffix
    if end - start == timedelta(days=1) and (start.hour, start.minute) == (0, 0):
        return Partition.daily_from_interval(start).path_suffix
    return f"{start.isoformat()} .. {end.isoformat()}"


def summarize_error(error: BaseException | str | None, limit: int = ERROR_SUMMARY_CHARS) -> str | None:
    """``Type: message`` cut to ``limit`` characters (the full traceback is in the task log)."""
    if error is None:
        return None
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_alert(*, dag_id: str, task_id: str, run_id: str, data_interval_start: datetime | str | None,
                  data_interval_end: datetime | str | None, try_number: int | None, log_url: str | None,
                  error: BaseException | str | None) -> Alert:
    return Alert(event=TASK_FAILED, dag_id=dag_id, task_id=task_id, run_id=run_id,
                 partition=partition_label(data_interval_start, data_interval_end),
                 try_number=try_number, log_url=log_url, error=summarize_error(error))


def deadline_alert(*, dag_id: str, run_id: str, data_interval_start: datetime | str | None,
                   data_interval_end: datetime | str | None, deadline: datetime | str | None,
                   log_url: str | None = None) -> Alert:
    deadline_at = _as_datetime(deadline)
    return Alert(event=DEADLINE_MISSED, dag_id=dag_id, run_id=run_id,
                 partition=partition_label(data_interval_start, data_interval_end),
                 deadline=deadline_at.isoformat() if deadline_at else None, log_url=log_url)


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The Airflow UI page of a DAG run (where a late run's running tasks are seen)."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id)}"


def recipients(*candidates: str | Iterable[str] | None) -> tuple[str, ...]:
    """Addresses of the first non-empty candidate; a string may list several, separated by
    commas or semicolons (the connection's ``to`` extra first, then ``ECOMFLOW_ALERT_EMAIL_TO``)."""
    for candidate in candidates:
        if not candidate:
            continue
        items = candidate.replace(";", ",").split(",") if isinstance(candidate, str) else candidate
        found = tuple(a.strip() for a in items if a and a.strip())
        if found:
            return found
    return ()


def webhook_url(*, conn_type: str | None, host: str | None, port: int | None, schema: str | None,
                extra: Mapping[str, Any]) -> str:
    """Where a webhook connection posts to.

    ``extra.url`` wins; otherwise ``http[s]://host[:port]/<endpoint>`` where the endpoint is
    ``extra.endpoint`` or the path of the connection URI (Airflow stores it as ``schema``), and
    the scheme is ``https`` for an ``https`` connection (or ``extra.scheme``), else ``http``.
    """
    if extra.get("url"):
        return str(extra["url"])
    if not host:
        raise ValueError("the webhook connection has neither a host nor an extra 'url'")
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = extra.get("scheme") or ("https" if conn_type == "https" else "http")
        base = f"{scheme}://{host}" + (f":{port}" if port else "")
    path = str(extra.get("endpoint") or schema or "").lstrip("/")
    return f"{base}/{path}" if path else base
