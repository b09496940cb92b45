"""Alerts reach people: a failed task and a late daily run, delivered to a real SMTP server and a
real HTTP endpoint on 127.0.0.1 through the same Airflow code paths production uses.

- A tiny DAG with ecomflow's failure callback and one failing task runs with ``dag.test()`` in a
  throw-away AIRFLOW_HOME; the alert connections come from ``AIRFLOW_CONN_*`` like a deployment's.
- The late-run path: the real ``ecomflow_daily`` is synced to the metadata DB, a run is queued
  (Airflow creates its Deadline), the scheduler's missed-deadline handling queues the callback,
  and the trigger the triggerer would run delivers it.
"""

from __future__ import annotations

import email
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASE_URL = "http://airflow.example.test:8080"
FROM = "ecomflow-alerts@example.test"


# ---- sinks ------------------------------------------------------------------------------------
class _SmtpSink:
    """A real SMTP server on 127.0.0.1 (aiosmtpd, a free port) that keeps every mail it accepts."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.messages: list[dict] = []
        self.server_address = ("127.0.0.1", port)
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802 - aiosmtpd's hook name
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),  # type: ignore[attr-defined]
                              "message": email.message_from_bytes(envelope.original_content)})  # type: ignore[attr-defined]
        return "250 queued"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append(  # type: ignore[attr-defined]
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _sinks() -> Iterator[tuple[_SmtpSink, ThreadingHTTPServer]]:
    """An SMTP server and an HTTP server on 127.0.0.1 (free ports) that record what they get."""
    smtp = _SmtpSink()
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookHandler)
    http.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield smtp, http
    finally:
        smtp.stop()
        http.shutdown()
        http.server_close()


def _connections(smtp_sink, http_sink, **smtp_extra: object) -> dict[str, str]:
    """The alert connections as a deployment gives them: AIRFLOW_CONN_* JSON, secrets nowhere else."""
    smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp_sink.server_address[1],
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": FROM, "timeout": 5,
                      "retry_limit": 0, **smtp_extra}}
    webhook = {"conn_type": "http", "host": "127.0.0.1", "port": http_sink.server_address[1],
               "schema": "hooks/ecomflow", "extra": {"headers": {"X-Ecomflow-Probe": "1"}}}
    return {"AIRFLOW_CONN_ECOMFLOW_ALERTS_SMTP": json.dumps(smtp),
            "AIRFLOW_CONN_ECOMFLOW_ALERTS_WEBHOOK": json.dumps(webhook)}


def _body(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    assert parts, message.as_string()
    return parts[0].get_payload(decode=True).decode()


# ---- a throw-away Airflow ---------------------------------------------------------------------
PROBE_DAG = '''
from datetime import datetime

from airflow.sdk import DAG, CronDataIntervalTimetable, task
from ecomflow_airflow.notifiers import failure_callbacks

with DAG("ecomflow_alert_probe", schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
         start_date=datetime(2000, 1, 1), catchup=False,
         default_args={"owner": "data-platform", "retries": 0, "on_failure_callback": failure_callbacks()}) as dag:
    @task
    def breaks():
        raise RuntimeError("probe failure: {{ not a template }}")

    breaks()
'''

# Two runs of the probe in one process (building dag.test()'s in-process API costs seconds):
# first with no alert connection, then, once the test says go, with the connections set.
RUN_PROBE = '''
import importlib.util, json, os, sys
from datetime import datetime
spec = importlib.util.spec_from_file_location("ecomflow_alert_probe", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
for logical_date in sys.argv[2:]:
    run = module.dag.test(logical_date=datetime.fromisoformat(logical_date))
    print("RUN", run.state, run.run_id, flush=True)
    print("PHASE_DONE", flush=True)
    sys.stdin.readline()
    os.environ.update(json.loads(os.environ.pop("PROBE_CONNECTIONS", "{}")))
'''

# What the scheduler and the triggerer do with ecomflow_daily's DeadlineAlert, step by step.
MISS_DAILY_DEADLINE = '''
import asyncio, os, time
from datetime import datetime, timedelta, timezone
from sqlalchemy import select
from airflow.dag_processing.bundles.manager import DagBundlesManager
from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
from airflow.models.dagbag import DBDagBag
from airflow.models.deadline import Deadline
from airflow.models.trigger import Trigger
from airflow._shared.module_loading import import_string
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from airflow.utils.types import DagRunTriggeredByType, DagRunType

DagBundlesManager().sync_bundles_to_db()
folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
sync_bag_to_db(BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder"), "dags-folder", None)
start = datetime(2026, 2, 28, tzinfo=timezone.utc)
with create_session() as session:
    dag = DBDagBag().get_latest_version_of_dag("ecomflow_daily", session=session)
    run = dag.create_dagrun(run_id="scheduled__2026-03-01T00:00:00+00:00", logical_date=start,
                            data_interval=(start, start + timedelta(days=1)), run_after=start + timedelta(days=1),
                            run_type=DagRunType.SCHEDULED, triggered_by=DagRunTriggeredByType.TIMETABLE,
                            state=DagRunState.QUEUED, session=session)
    session.flush()
    (deadline,) = session.scalars(select(Deadline).where(Deadline.dagrun_id == run.id)).all()
    print("DEADLINE_AFTER_QUEUED_S", (deadline.deadline_time - run.queued_at).total_seconds())
while datetime.now(timezone.utc) <= deadline.deadline_time:
    time.sleep(0.05)
with create_session() as session:  # the scheduler loop's missed-deadline query
    for missed in session.scalars(select(Deadline).where(Deadline.deadline_time < datetime.now(timezone.utc),
                                                         ~Deadline.missed)):
        missed.handle_miss(session)
        trigger_id = missed.callback.trigger_id
with create_session() as session:  # the triggerer: rebuild the queued trigger and run it
    row = session.get(Trigger, trigger_id)
    trigger = import_string(row.classpath)(**row.kwargs)

async def events():
    return [event.payload async for event in trigger.run()]

for payload in asyncio.run(events()):
    print("EVENT", payload["state"].value, payload.get("body"))
'''


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory, migrated_airflow_db: Callable[[Path], None]) -> dict[str, str]:
    """A migrated SQLite AIRFLOW_HOME whose DAG folder holds only the probe DAG (``dag.test()`` parses
    the whole folder); the late-run test points it at ecomflow's ``dags/``."""
    home = tmp_path_factory.mktemp("alerts_airflow")
    (home / "probe_dags").mkdir()
    (home / "probe_dags" / "ecomflow_alert_probe.py").write_text(PROBE_DAG)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "ECOMFLOW_ALERT", "ECOMFLOW_DAILY_DEADLINE"))}
    env.update({
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "probe_dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__BASE_URL": BASE_URL, "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    })
    migrated_airflow_db(home)
    return env


def _run(code: str, env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                         cwd=REPO, timeout=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


QUIET_DATE, ALERTING_DATE = "2026-02-20T00:00:00+00:00", "2026-03-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def probe_runs(airflow_env) -> dict[str, dict]:
    """The failing probe DAG run twice: "quiet" without alert connections, "alerting" with them.
    Per run: its state, run id, everything it logged, and what each sink received meanwhile."""
    results: dict[str, dict] = {}
    with _sinks() as (smtp, http):
        env = {**airflow_env, "ECOMFLOW_ALERT_EMAIL_TO": "oncall@example.test; data@example.test",
               # the connection has no 'to': the recipients come from ECOMFLOW_ALERT_EMAIL_TO
               "PROBE_CONNECTIONS": json.dumps(_connections(smtp, http))}
        probe = Path(env["AIRFLOW__CORE__DAGS_FOLDER"]) / "ecomflow_alert_probe.py"
        proc = subprocess.Popen([sys.executable, "-c", RUN_PROBE, str(probe), QUIET_DATE, ALERTING_DATE],
                                env=env, cwd=REPO, text=True, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(240, proc.kill)
        watchdog.start()
        try:
            for phase in ("quiet", "alerting"):
                lines = []
                while (line := proc.stdout.readline()) and line.strip() != "PHASE_DONE":
                    lines.append(line)
                output = "".join(lines)
                run = [x for x in lines if x.startswith("RUN ")]
                assert run, output[-3000:]
                _, state, run_id = run[-1].split()
                results[phase] = {"state": state, "run_id": run_id, "output": output,
                                  "mails": list(smtp.messages), "posts": list(http.requests)}
                smtp.messages.clear()
                http.requests.clear()
                proc.stdin.write("go\n")
                proc.stdin.flush()
            assert proc.wait(timeout=60) == 0, proc.stdout.read()[-3000:]
        finally:
            watchdog.cancel()
            proc.kill()
    return results


# ---- tests ------------------------------------------------------------------------------------
def test_failed_task_alerts_reach_the_smtp_and_webhook_sinks(probe_runs) -> None:
    probe = probe_runs["alerting"]
    run_id, output = probe["run_id"], probe["output"]
    assert probe["state"] == "failed", output[-3000:]
    assert "Failed to run task callback" not in output, output[-3000:]

    (mail,) = probe["mails"]
    assert mail["from"] == FROM and mail["to"] == ["oncall@example.test", "data@example.test"]
    # dag.test(D) runs the interval that ends at D: the day before
    assert mail["message"]["Subject"] == "[ecomflow] ecomflow_alert_probe.breaks failed (dt=2026-02-28)"
    body = _body(mail["message"])
    for fact in (run_id, "ecomflow_alert_probe", "breaks", "dt=2026-02-28",
                 "RuntimeError: probe failure: {{ not a template }}",
                 f"{BASE_URL}/dags/ecomflow_alert_probe/runs/"):
        assert fact in body, (fact, body)

    (post,) = probe["posts"]
    assert post["path"] == "/hooks/ecomflow"
    assert post["headers"]["X-Ecomflow-Probe"] == "1"
    alert = post["json"]
    assert alert["event"] == "task_failed"
    assert (alert["dag_id"], alert["task_id"], alert["run_id"]) == ("ecomflow_alert_probe", "breaks", run_id)
    assert alert["partition"] == "dt=2026-02-28" and alert["try_number"] == 1
    assert alert["error"] == "RuntimeError: probe failure: {{ not a template }}"
    assert alert["log_url"].startswith(f"{BASE_URL}/dags/ecomflow_alert_probe/runs/")
    assert run_id in alert["text"]


def test_without_alert_connections_nothing_is_sent_and_nothing_fails(probe_runs) -> None:
    probe = probe_runs["quiet"]
    assert probe["state"] == "failed", probe["output"][-3000:]
    assert "no connection ecomflow_alerts_smtp or ecomflow_alerts_webhook is configured" in probe["output"]
    assert "Failed to run task callback" not in probe["output"], probe["output"][-3000:]
    assert probe["mails"] == [] and probe["posts"] == []


def _load_daily_dag(monkeypatch: pytest.MonkeyPatch, hours: str | None):
    from tasks import settings

    if hours is None:
        monkeypatch.delenv("ECOMFLOW_DAILY_DEADLINE_HOURS", raising=False)
    else:
        monkeypatch.setenv("ECOMFLOW_DAILY_DEADLINE_HOURS", hours)
    settings.reset()
    try:
        spec = importlib.util.spec_from_file_location("ecomflow_daily_for_alerts",
                                                      REPO / "dags" / "ecomflow_daily.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.dag
    finally:
        settings.reset()


@pytest.mark.parametrize(("hours", "expected"), [(None, timedelta(hours=6)), ("2.5", timedelta(hours=2.5))])
def test_daily_dag_declares_the_configured_deadline(monkeypatch, hours, expected) -> None:
    from airflow.serialization.decoders import decode_deadline_alert
    from airflow.serialization.serialized_objects import DagSerialization

    dag = _load_daily_dag(monkeypatch, hours)
    assert all(task.on_failure_callback for task in dag.tasks)
    # What the dag-processor stores and the scheduler reads back.
    (stored,) = DagSerialization.to_dict(dag)["dag"]["deadline"]
    alert = decode_deadline_alert(stored)
    assert alert.reference.reference_name == "DagRunQueuedAtDeadline"
    assert alert.interval == expected
    assert type(alert.callback).__name__ == "AsyncCallback"  # runs in the triggerer
    assert alert.callback.path == "ecomflow_airflow.notifiers.alert_deadline_missed"


def test_late_daily_run_alerts_the_smtp_and_webhook_sinks(airflow_env) -> None:
    with _sinks() as (smtp, http):
        env = {**airflow_env, **_connections(smtp, http, to="oncall@example.test"),
               "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
               "ECOMFLOW_DAILY_DEADLINE_HOURS": "0.0002"}  # 0.72 s: missed while the script waits
        output = _run(MISS_DAILY_DEADLINE, env)
        mails, posts = list(smtp.messages), list(http.requests)
    deadline_line = [line for line in output.splitlines() if line.startswith("DEADLINE_AFTER_QUEUED_S")]
    assert deadline_line and float(deadline_line[0].split()[1]) == pytest.approx(0.72), output[-3000:]
    events = [line.split()[1] for line in output.splitlines() if line.startswith("EVENT")]
    assert events == ["running", "success"], output[-3000:]

    run_id = "scheduled__2026-03-01T00:00:00+00:00"
    (mail,) = mails
    assert mail["to"] == ["oncall@example.test"]
    assert mail["message"]["Subject"].startswith("[ecomflow] ecomflow_daily dt=2026-02-28: not finished by 2026-")
    body = _body(mail["message"])
    assert run_id in body and f"{BASE_URL}/dags/ecomflow_daily/runs/" in body

    (post,) = posts
    alert = post["json"]
    assert alert["event"] == "deadline_missed"
    assert (alert["dag_id"], alert["run_id"], alert["partition"]) == ("ecomflow_daily", run_id, "dt=2026-02-28")
    assert alert["deadline"] and alert["task_id"] is None
