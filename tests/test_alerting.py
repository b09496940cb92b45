"""What an alert says (tasks/alerting.py), without Airflow; delivery is tested in tests/dags/test_alerts.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tasks import alerting


@pytest.mark.parametrize(("start", "end", "label"), [
    (datetime(2026, 2, 28, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC), "dt=2026-02-28"),
    (datetime(2026, 2, 28, 13, tzinfo=UTC), datetime(2026, 2, 28, 14, tzinfo=UTC), "dt=2026-02-28/hr=13"),
    ("2026-02-28T13:00:00Z", "2026-02-28T14:00:00Z", "dt=2026-02-28/hr=13"),  # the REST API's form
    (datetime(2026, 2, 23, 4, tzinfo=UTC), datetime(2026, 3, 2, 4, tzinfo=UTC),
     "2026-02-23T04:00:00+00:00 .. 2026-03-02T04:00:00+00:00"),  # weekly retrain: the interval itself
    (None, None, None),
])
def test_partition_label_uses_the_lake_partition_names(start, end, label) -> None:
    assert alerting.partition_label(start, end) == label


def test_failure_alert_names_everything_on_call_needs_and_escapes_html() -> None:
    alert = alerting.failure_alert(
        dag_id="ecomflow_hourly", task_id="score.risk_labels", run_id="scheduled__2026-02-28T14:00:00+00:00",
        data_interval_start=datetime(2026, 2, 28, 13, tzinfo=UTC),
        data_interval_end=datetime(2026, 2, 28, 14, tzinfo=UTC), try_number=3,
        log_url="http://airflow:8080/dags/ecomflow_hourly/runs/x/tasks/score.risk_labels?try_number=3",
        error=ValueError("<script> in column 'amount'"))
    assert alert.subject == "[ecomflow] ecomflow_hourly.score.risk_labels failed (dt=2026-02-28/hr=13)"
    text = alert.text()
    for fact in ("scheduled__2026-02-28T14:00:00+00:00", "try: 3", "ValueError: <script> in column 'amount'",
                 "tasks/score.risk_labels?try_number=3"):
        assert fact in text
    assert "<script>" not in alert.html() and "&lt;script&gt;" in alert.html()
    payload = alert.payload()
    assert payload["event"] == "task_failed" and payload["partition"] == "dt=2026-02-28/hr=13"
    assert payload["try_number"] == 3 and payload["text"] == text


def test_long_errors_are_cut() -> None:
    summary = alerting.summarize_error(RuntimeError("x" * 2000))
    assert summary.startswith("RuntimeError: xxx") and len(summary) == alerting.ERROR_SUMMARY_CHARS
    assert alerting.summarize_error(None) is None


def test_deadline_alert() -> None:
    alert = alerting.deadline_alert(dag_id="ecomflow_daily", run_id="scheduled__2026-03-01T00:00:00+00:00",
                                    data_interval_start="2026-02-28T00:00:00Z",
                                    data_interval_end="2026-03-01T00:00:00Z",
                                    deadline="2026-03-01T06:00:05Z")
    assert alert.subject == ("[ecomflow] ecomflow_daily dt=2026-02-28: not finished by "
                             "2026-03-01T06:00:05+00:00")
    assert alert.payload()["event"] == "deadline_missed" and alert.task_id is None


def test_recipients_take_the_first_non_empty_list() -> None:
    assert alerting.recipients("a@x.test; b@x.test,", ("c@x.test",)) == ("a@x.test", "b@x.test")
    assert alerting.recipients(None, "", ("c@x.test",)) == ("c@x.test",)
    assert alerting.recipients(["a@x.test"]) == ("a@x.test",)
    assert alerting.recipients(None, ()) == ()


@pytest.mark.parametrize(("conn", "url"), [
    ({"conn_type": "http", "host": "127.0.0.1", "port": 8099, "schema": "hooks/ecomflow", "extra": {}},
     "http://127.0.0.1:8099/hooks/ecomflow"),
    ({"conn_type": "https", "host": "hooks.example.test", "port": None, "schema": None,
      "extra": {"endpoint": "/services/abc"}}, "https://hooks.example.test/services/abc"),
    ({"conn_type": "http", "host": "https://hooks.example.test/", "port": None, "schema": "x", "extra": {}},
     "https://hooks.example.test/x"),
    ({"conn_type": "http", "host": None, "port": None, "schema": None,
      "extra": {"url": "https://chat.example.test/hook/1"}}, "https://chat.example.test/hook/1"),
])
def test_webhook_url(conn, url) -> None:
    assert alerting.webhook_url(**conn) == url


def test_webhook_without_host_or_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="neither a host nor an extra 'url'"):
        alerting.webhook_url(conn_type="http", host=None, port=None, schema=None, extra={})


def test_alert_settings(monkeypatch) -> None:
    from tasks.settings import load_settings

    monkeypatch.delenv("ECOMFLOW_DAILY_DEADLINE_HOURS", raising=False)
    monkeypatch.delenv("ECOMFLOW_ALERT_EMAIL_TO", raising=False)
    assert load_settings().daily_deadline_hours == 6.0 and load_settings().alert_email_to == ()
    monkeypatch.setenv("ECOMFLOW_DAILY_DEADLINE_HOURS", "1.5")
    monkeypatch.setenv("ECOMFLOW_ALERT_EMAIL_TO", "a@x.test, b@x.test")
    settings = load_settings()
    assert settings.daily_deadline_hours == 1.5 and settings.alert_email_to == ("a@x.test", "b@x.test")
    monkeypatch.setenv("ECOMFLOW_DAILY_DEADLINE_HOURS", "0")
    with pytest.raises(ValueError, match="ECOMFLOW_DAILY_DEADLINE_HOURS"):
        load_settings()
