"""Tell someone: failure callbacks through Airflow notifiers, and the daily run's Deadline Alert.

Two channels, each switched on by an Airflow connection (none by default, so nothing is sent and
nothing fails until an operator adds one):

- ``ecomflow_alerts_smtp`` (type smtp): an e-mail through the SMTP provider's ``SmtpNotifier``;
  recipients from the connection's extra ``to``, else ``ECOMFLOW_ALERT_EMAIL_TO``.
- ``ecomflow_alerts_webhook`` (type http/https): an HTTP POST of a JSON payload
  (:class:`WebhookNotifier`; the installed providers have no HTTP notifier).

What an alert says is built in ``tasks/alerting.py``. Importing this module does no I/O and looks
up no connection: DAG files import it at parse time. Connections are looked up when an alert is
sent, through the Task SDK (environment ``AIRFLOW_CONN_*``, secrets backends, then the metadata
DB via the API server).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import AsyncCallback, BaseNotifier, DeadlineAlert, DeadlineReference

from tasks import alerting

if TYPE_CHECKING:
    from airflow.sdk import Connection
    from airflow.sdk.definitions.context import Context

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 10.0


def _json_headers(conn: Connection) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    headers.update({str(k): str(v) for k, v in (conn.extra_dejson.get("headers") or {}).items()})
    return headers


def _webhook_request(conn: Connection) -> tuple[str, dict[str, str], tuple[str, str] | None]:
    url = alerting.webhook_url(conn_type=conn.conn_type, host=conn.host, port=conn.port,
                               schema=conn.schema, extra=conn.extra_dejson)
    auth = (conn.login, conn.password or "") if conn.login else None
    return url, _json_headers(conn), auth


class WebhookNotifier(BaseNotifier):
    """POST a JSON payload to the URL of an http/https connection.

    The payload defaults to the failure alert of the context's task (``tasks.alerting``); the
    connection's extra may add ``headers`` (e.g. an authorization token) and name the ``endpoint``
    or the whole ``url``; a login/password is sent as basic auth.
    """

    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = alerting.WEBHOOK_CONN_ID, payload: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.payload = payload

    def _payload(self, context: Context) -> dict[str, Any]:
        return self.payload if self.payload is not None else failure_alert_from_context(context).payload()

    def notify(self, context: Context) -> None:
        import httpx
        from airflow.sdk import BaseHook

        url, headers, auth = _webhook_request(BaseHook.get_connection(self.conn_id))
        response = httpx.post(url, json=self._payload(context), headers=headers, auth=auth,
                              timeout=WEBHOOK_TIMEOUT_S)
        response.raise_for_status()

    async def async_notify(self, context: Context) -> None:
        import httpx
        from airflow.sdk import BaseHook

        url, headers, auth = _webhook_request(await BaseHook.aget_connection(self.conn_id))
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as client:
            response = await client.post(url, json=self._payload(context), headers=headers, auth=auth)
            response.raise_for_status()


def _email_notifier(conn: Connection, alert: alerting.Alert) -> Any:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    from tasks.settings import get_settings

    extra = conn.extra_dejson
    to = alerting.recipients(extra.get("to"), get_settings().alert_email_to)
    if not to:
        raise ValueError(f"connection {conn.conn_id!r} has no extra 'to' and ECOMFLOW_ALERT_EMAIL_TO "
                         "is not set: nobody to send the alert to")
    # subject and html_content are final text: SmtpNotifier renders neither with Jinja then, so
    # braces in an error message stay as they are.
    return SmtpNotifier(to=list(to), from_email=extra.get("from_email") or alerting.DEFAULT_FROM,
                        subject=alert.subject, html_content=alert.html(), smtp_conn_id=conn.conn_id)


def _report(alert: alerting.Alert, sent: list[str], failed: dict[str, BaseException],
            configured: int) -> list[str]:
    if configured == 0:
        log.info("No alert sent for %s: no connection %s or %s is configured (alerts are off)",
                 alert.subject, alerting.SMTP_CONN_ID, alerting.WEBHOOK_CONN_ID)
    for channel in sent:
        log.info("Alert sent via %s: %s", channel, alert.subject)
    if failed:
        # After every channel had its try: one broken channel must not silence the other.
        raise RuntimeError("alert not delivered via " + "; ".join(f"{c}: {e!r}" for c, e in failed.items()))
    return sent


def deliver(alert: alerting.Alert, context: Context | None = None) -> list[str]:
    """Send ``alert`` through every configured channel; returns the connection ids used."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    context = context if context is not None else {}
    sent: list[str] = []
    failed: dict[str, BaseException] = {}
    configured = 0
    for conn_id in (alerting.SMTP_CONN_ID, alerting.WEBHOOK_CONN_ID):
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            continue
        configured += 1
        try:
            if conn_id == alerting.SMTP_CONN_ID:
                _email_notifier(conn, alert).notify(context)
            else:
                WebhookNotifier(conn_id=conn_id, payload=alert.payload()).notify(context)
            sent.append(conn_id)
        except Exception as exc:  # reported after the other channel had its try
            log.exception("Alert via %s failed", conn_id)
            failed[conn_id] = exc
    return _report(alert, sent, failed, configured)


async def adeliver(alert: alerting.Alert, context: Context | None = None) -> list[str]:
    """:func:`deliver` for the triggerer's event loop (Deadline Alert callbacks)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    context = context if context is not None else {}
    sent: list[str] = []
    failed: dict[str, BaseException] = {}
    configured = 0
    for conn_id in (alerting.SMTP_CONN_ID, alerting.WEBHOOK_CONN_ID):
        try:
            conn = await BaseHook.aget_connection(conn_id)
        except AirflowNotFoundException:
            continue
        configured += 1
        try:
            if conn_id == alerting.SMTP_CONN_ID:
                await _email_notifier(conn, alert).async_notify(context)
            else:
                await WebhookNotifier(conn_id=conn_id, payload=alert.payload()).async_notify(context)
            sent.append(conn_id)
        except Exception as exc:  # reported after the other channel had its try
            log.exception("Alert via %s failed", conn_id)
            failed[conn_id] = exc
    return _report(alert, sent, failed, configured)


def failure_alert_from_context(context: Context) -> alerting.Alert:
    ti = context["ti"]
    return alerting.failure_alert(
        dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id,
        data_interval_start=context.get("data_interval_start"),
        data_interval_end=context.get("data_interval_end"),
        try_number=getattr(ti, "try_number", None), log_url=getattr(ti, "log_url", None),
        error=context.get("exception"))


class FailureAlertNotifier(BaseNotifier):
    """``on_failure_callback`` of every ecomflow task: one alert per task that failed for good
    (after its retries), to every configured channel; none configured: a log line, nothing else."""

    def notify(self, context: Context) -> None:
        deliver(failure_alert_from_context(context), context)


async def alert_deadline_missed(context: dict[str, Any] | None = None) -> list[str]:
    """Deadline Alert callback (runs in the triggerer): the run has not finished in time.

    ``context`` is what the scheduler hands a missed deadline: ``dag_run`` (the run as the REST
    API shows it) and ``deadline`` (``deadline_time``).
    """
    from airflow.sdk import conf

    context = context or {}
    run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id, run_id = run.get("dag_id", "?"), run.get("dag_run_id") or run.get("run_id", "?")
    alert = alerting.deadline_alert(
        dag_id=dag_id, run_id=run_id, data_interval_start=run.get("data_interval_start"),
        data_interval_end=run.get("data_interval_end"), deadline=deadline.get("deadline_time"),
        log_url=alerting.run_url(conf.get("api", "base_url", fallback="http://localhost:8080/"),
                                 dag_id, run_id))
    return await adeliver(alert)


def failure_callbacks() -> Sequence[BaseNotifier]:
    """What ``default_args["on_failure_callback"]`` of every ecomflow DAG gets."""
    return [FailureAlertNotifier()]


def daily_run_deadline() -> DeadlineAlert:
    """The daily run must finish within ``ECOMFLOW_DAILY_DEADLINE_HOURS`` (default 6) of being
    queued, else :func:`alert_deadline_missed` alerts.

    Measured from when the run was queued, not from its data interval's end: a scheduled run
    is queued when its interval ends, so for it the two agree, while a backfill or a re-run of
    an old day would otherwise be "late" from the start and alert at once.
    """
    from tasks.settings import get_settings

    hours = get_settings().daily_deadline_hours
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=timedelta(hours=hours),
                         callback=AsyncCallback(alert_deadline_missed), name="daily_run_late")
