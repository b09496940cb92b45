"""A local Airflow for ``make run`` / ``make ui`` / ``make stop``: real services, started by PID.

Why not ``airflow dags test``: it runs a DAG inside one process, so the UI afterwards shows
paused DAGs, runs lasting months (historical logical date, wall-clock end) and empty task logs.
Here the scheduler, dag-processor, triggerer and api-server run in the background (SQLite
metadata + LocalExecutor, the embedded default Airflow 3 supports), and demo partitions run as
*backfills*: they go through the scheduler, the executor and the task-execution API exactly as
scheduled runs do, with the data interval of their own logical date and readable task logs.

The scheduler's cron schedule is off for the local demo (``use_job_schedule=False``): the demo
source ends on a fixed day, so runs for *today* would have no data. DAGs are unpaused, and a
deployment (docker-compose) keeps the schedules on.

No Airflow import: the services are subprocesses and runs are driven through Airflow's public
REST API (``/api/v2``), so this module works against any Airflow it can reach.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tasks.settings import REPO_ROOT

log = logging.getLogger(__name__)

AIRFLOW_SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Started first so feature tasks find it; left out when Spark is not local (see spark_connect.py).
SPARK_SERVICE = "spark-connect"
SERVICES = (SPARK_SERVICE, *AIRFLOW_SERVICES)
DAG_IDS = ("ecomflow_daily", "ecomflow_hourly", "ecomflow_retrain")
USER = "admin"
#: The executor of the local stack: Airflow's LocalExecutor whose heartbeat waits for a running
#: task's result instead of the scheduler re-reading the DAG run every 0.2 s
#: (plugins/ecomflow_airflow/executor.py); AIRFLOW__CORE__EXECUTOR overrides it.
LOCAL_EXECUTOR = "ecomflow_airflow.executor.LocalExecutor"
COMPLETION_RETRY_S = 10.0  # how often a refused backfill checks whether the open one has finished
POLL_S = 1.0  # how often run states are polled (a run ends on average POLL_S / 2 before it is seen)
# Settings that change what the tasks do: services started with other values are restarted.
_TASK_ENV_PREFIXES = ("ECOMFLOW_", "SPARK_", "PYSPARK_")
# What the Spark Connect server itself depends on (spark_connect.server_command): the feature jobs
# pass every path and date in their plans and run no Python on the server, so a change of only
# the other settings (another ECOMFLOW_HOME or source) keeps the server and its warm JIT.
_SPARK_ENV_PREFIXES = ("SPARK_", "PYSPARK_", "JAVA_", "ECOMFLOW_SPARK_")


#: How often one wait restarts services that died: a service that dies again at once would
#: otherwise be restarted every poll. After that, a dead service ends the wait with its error.
MAX_REVIVES = 3
#: $AIRFLOW_HOME -> the environment ``start`` was given in this process (``revive`` reuses it)
_STARTED_WITH: dict[Path, dict[str, str]] = {}

#: api-server URL -> access token of the local admin (one login per process, not per call)
_TOKENS: dict[str, str] = {}


class LocalAirflowError(RuntimeError):
    """A local Airflow service did not start, or a run did not finish as expected."""


@dataclass(frozen=True)
class LocalAirflow:
    """Where the local services live: ``$AIRFLOW_HOME`` and the api-server's port."""

    home: Path
    port: int = 8080
    spark_port: int = 15002

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LocalAirflow:
        env = os.environ if env is None else env
        home = env.get("AIRFLOW_HOME") or str(Path(env.get("ECOMFLOW_HOME", REPO_ROOT / ".ecomflow")) / "airflow")
        return cls(Path(home), int(env.get("ECOMFLOW_AIRFLOW_PORT", "8080")),
                   int(env.get("ECOMFLOW_SPARK_CONNECT_PORT", "15002")))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def run_dir(self) -> Path:
        return self.home / "services"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json.generated"

    @property
    def stopping_file(self) -> Path:
        """Present from a ``stop`` until the next ``start``: ``revive`` leaves the services down."""
        return self.run_dir / "stopping"

    def pid_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.run_dir / f"{service}.log"

    # -- environment ----------------------------------------------------------------------------
    def _jwt_secret(self) -> str:
        """One secret shared by every service (task tokens are signed by one, checked by another).

        Generated on first start and kept in ``$AIRFLOW_HOME`` (mode 600), never in code.
        """
        path = self.home / "jwt_secret"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def service_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment every service (and so every task) runs with."""
        env = dict(os.environ if base is None else base)
        # What scripts/env.sh sets, so a caller that did not source it gets the same services.
        plugins = str(REPO_ROOT / "plugins")
        if plugins not in env.get("PYTHONPATH", "").split(os.pathsep):
            env["PYTHONPATH"] = os.pathsep.join(p for p in (plugins, env.get("PYTHONPATH", "")) if p)
        env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
        env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", plugins)
        env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": env.get("AIRFLOW__CORE__EXECUTOR", LOCAL_EXECUTOR),
            # Four task slots on 2 cores: most tasks wait on I/O, the warehouse lock or the scheduler
            # more than they compute; training has its own pool (gpu, ECOMFLOW_TRAIN_SLOTS in airflow_init.sh).
            "AIRFLOW__CORE__PARALLELISM": env.get("AIRFLOW__CORE__PARALLELISM", "4"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": env.get("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "False"),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # The scheduler sleeps this long when a loop found nothing to do; Airflow's 1 s default
            # left ~0.7 s idle between two short tasks (measured: a daily run on a source most
            # of whose steps skip, 108 s -> 88 s at 0.2 s with 4 task slots).
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": env.get("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", "0.2"),
            # The task supervisor waits up to this long in select() between checks of its task
            # process; when the task closes its sockets before its process has exited (about one
            # task in three here), it sleeps the whole interval with nothing left to wake it, so
            # Airflow's 5 s default kept each such task's executor slot (and a skipped task's
            # end) 5 s past its last log line: 25 of 75 tasks of one scenario run, 126 s in all.
            # 1 s bounds that tail; the price is a heartbeat per running task per second.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": env.get("AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL", "1"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "GX_ANALYTICS_ENABLED": "False",
        })
        if env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "sqlite").startswith("sqlite"):
            # One SQLite file, many writers: wait for its lock instead of failing after 5 s
            # (plugins/ecomflow_airflow/metadata_db.py says what that failure cost).
            env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS",
                           "ecomflow_airflow.metadata_db.SQLITE_CONNECT_ARGS")
            env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC",
                           "ecomflow_airflow.metadata_db.SQLITE_CONNECT_ARGS_ASYNC")
        if self.uses_spark_connect(env):
            from tasks.orchestration.spark_connect import remote_url

            env["ECOMFLOW_SPARK_REMOTE"] = remote_url(self.spark_port)
        return env

    @staticmethod
    def uses_spark_connect(env: Mapping[str, str]) -> bool:
        """A local Spark Connect server unless Spark is a cluster, a remote is given, or it is off."""
        return (env.get("ECOMFLOW_SPARK_MASTER", "local[*]").startswith("local")
                and not env.get("ECOMFLOW_SPARK_REMOTE") and env.get("ECOMFLOW_SPARK_CONNECT", "1") != "0")

    @staticmethod
    def _task_env(env: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in sorted(env.items()) if k.startswith(_TASK_ENV_PREFIXES)}

    @staticmethod
    def _spark_env(env: Mapping[str, str]) -> dict[str, str]:
        return {k: v for k, v in sorted(env.items()) if k.startswith(_SPARK_ENV_PREFIXES)}

    # -- processes -------------------------------------------------------------------------------
    def pid(self, service: str) -> int | None:
        """The service's PID if it is alive (a stale PID file is ignored)."""
        try:
            pid = int(self.pid_file(service).read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> list[str]:
        return [s for s in SERVICES if self.pid(s)]

    def wanted(self, env: Mapping[str, str]) -> tuple[str, ...]:
        spark = (SPARK_SERVICE,) if self.uses_spark_connect(env) or self.pid(SPARK_SERVICE) else ()
        return (*spark, *AIRFLOW_SERVICES)

    def _command(self, service: str) -> list[str]:
        if service == SPARK_SERVICE:
            from tasks.orchestration.spark_connect import server_command

            return server_command(self.spark_port)
        command = [str(Path(sys.executable).parent / "airflow"), service]
        if service == "api-server":
            command += ["--port", str(self.port), "--host", "127.0.0.1"]
        return command

    def start(self, base_env: Mapping[str, str] | None = None, timeout_s: float = 240) -> dict[str, str]:
        """Start whatever is not running yet and wait until the API answers and the DAGs are parsed.

        Services already running with other ``ECOMFLOW_*`` settings are restarted first, so tasks
        never run with the settings of an earlier ``make run``.
        """
        base = dict(os.environ if base_env is None else base_env)
        env = self.service_env(base)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env_file, spark_file = self.run_dir / "task_env.json", self.run_dir / "spark_env.json"
        wanted, spark_wanted = self._task_env(base), self._spark_env(base)
        if self.running() and env_file.exists() and json.loads(env_file.read_text()) != wanted:
            keep = ((SPARK_SERVICE,) if self.pid(SPARK_SERVICE) and spark_file.exists()
                    and json.loads(spark_file.read_text()) == spark_wanted else ())
            print("local Airflow: settings changed since it was started; restarting it"
                  + (" (the Spark Connect server's own settings did not change: kept)" if keep else ""), flush=True)
            self.stop(keep=keep)
        if not self.pid("api-server"):
            self._port_free_or_fail()
        if self.uses_spark_connect(base) and not self.pid(SPARK_SERVICE) and _port_open(self.spark_port):
            raise LocalAirflowError(f"port {self.spark_port} (Spark Connect) is in use by another program; "
                                    "set ECOMFLOW_SPARK_CONNECT_PORT to a free port")
        env_file.write_text(json.dumps(wanted, indent=1))
        if not self.pid(SPARK_SERVICE):
            spark_file.write_text(json.dumps(spark_wanted, indent=1))
        services = self.wanted(base)
        fresh_spark = (SPARK_SERVICE in services and not self.pid(SPARK_SERVICE)
                       and base.get("ECOMFLOW_SPARK_WARM_UP", "1") != "0")
        self.stopping_file.unlink(missing_ok=True)
        for service in services:
            if not self.pid(service):
                self._spawn(service, env)
        _STARTED_WITH[self.home] = base
        self._wait_until_ready(services, timeout_s)
        if fresh_spark:
            self._warm_up_spark(env)
        return env

    def _spawn(self, service: str, env: Mapping[str, str]) -> None:
        service_env = dict(env)
        if service == "scheduler":  # LocalExecutor workers fork from it (tasks/preload.py)
            service_env["ECOMFLOW_PRELOAD_TASK_LIBS"] = "1"
        with self.log_file(service).open("ab") as out:
            proc = subprocess.Popen(self._command(service), cwd=REPO_ROOT, env=service_env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid_file(service).write_text(str(proc.pid))

    def revive(self) -> list[str]:
        """Start again any Airflow service that died while runs were waiting, and say why it died.

        Why: a scheduler that crashes (seen: ``ObjectDeletedError`` after a backfill request was
        answered 503 by a busy SQLite and rolled back) leaves queued runs that nothing will ever
        start, and a caller polling their states would wait for its whole timeout. Only the dead
        services are started, with the environment this process started them with (a CLI process
        that did not start them uses its own, which ``run_pipeline.sh`` shares with ``start``); the
        new scheduler picks up the queued runs from the metadata database.
        """
        dead = [s for s in AIRFLOW_SERVICES if not self.pid(s)]
        if not dead or self.stopping_file.exists():  # `make stop` is taking the stack down
            return []
        env = self.service_env(_STARTED_WITH.get(self.home, os.environ))
        for service in dead:
            print(f"local Airflow: the {service} died ({_last_error(self.log_file(service))}); "
                  "starting it again", flush=True)
            self._spawn(service, env)
        self._wait_until_ready(dead, timeout_s=240)
        return dead

    def _warm_up_spark(self, env: Mapping[str, str]) -> None:
        """Start ``spark_connect.warm_up`` in the background against the new server (it exits by
        itself; its output goes to ``spark-warm-up.log``). A failed warm-up only costs the time."""
        with self.log_file("spark-warm-up").open("ab") as out:
            subprocess.Popen([sys.executable, "-m", "tasks.orchestration.spark_connect", "--warm-up",
                              "--port", str(self.spark_port)], cwd=REPO_ROOT, env=dict(env), stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def _port_free_or_fail(self) -> None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", self.port)) == 0:
                raise LocalAirflowError(
                    f"port {self.port} is in use by another program; set ECOMFLOW_AIRFLOW_PORT to a free port")

    def _wait_until_ready(self, services: Iterable[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        missing: Iterable[str] = DAG_IDS
        while time.monotonic() < deadline:
            dead = [s for s in services if not self.pid(s)]
            if dead:
                tail = self.log_file(dead[0]).read_text(errors="replace")[-3000:]
                raise LocalAirflowError(f"airflow {dead[0]} exited; last lines of {self.log_file(dead[0])}:\n{tail}")
            try:
                found = {d["dag_id"] for d in self.api("GET", "/api/v2/dags?limit=100")["dags"]}
                missing = [d for d in DAG_IDS if d not in found]
                if not missing and (SPARK_SERVICE not in services or _port_open(self.spark_port)):
                    return
            except (OSError, LocalAirflowError):
                pass
            time.sleep(0.5)
        raise LocalAirflowError(f"local Airflow not ready after {timeout_s:.0f} s (DAGs not parsed: "
                                f"{', '.join(missing)}); logs in {self.run_dir}")

    def stop(self, timeout_s: float = 60, keep: Iterable[str] = ()) -> list[str]:
        """SIGTERM every service this module started (its whole process group), then SIGKILL;
        the services in ``keep`` go on running."""
        from tasks.subprocess_stream import signal_group

        kept = set(keep)
        if self.run_dir.exists():  # a run being waited for must not start what this stops
            self.stopping_file.touch()
        pids = {service: pid for service in SERVICES if service not in kept and (pid := self.pid(service))}
        for pid in pids.values():
            signal_group(pid, signal.SIGTERM)
        stopped = list(pids)
        deadline = time.monotonic() + timeout_s
        # The triggerer then waits a fixed 10 s for its trigger runner (which the group signal has
        # already stopped) before exiting; a second SIGTERM is its documented "do not wait".
        # Measured: every stop of the local stack took ~10 s more than the others' < 1 s.
        if "triggerer" in pids:
            time.sleep(1.0)
            if self.pid("triggerer"):
                with contextlib.suppress(OSError):
                    os.kill(pids["triggerer"], signal.SIGTERM)
        for service in stopped:
            while self.pid(service) and time.monotonic() < deadline:
                time.sleep(0.5)
            pid = self.pid(service)
            if pid:
                # Says which service held `make stop` (and a test's teardown) for the whole timeout.
                print(f"local Airflow: the {service} (pid {pid}) did not exit within {timeout_s:.0f} s "
                      "of SIGTERM; killed", flush=True)
                signal_group(pid, signal.SIGKILL)
        for service in SERVICES:
            if service not in kept:
                self.pid_file(service).unlink(missing_ok=True)
        return stopped

    # -- REST API --------------------------------------------------------------------------------
    def password(self) -> str:
        """The generated admin password (Airflow's simple auth manager writes it on first start)."""
        try:
            return json.loads(self.passwords_file.read_text())[USER]
        except (OSError, ValueError, KeyError) as exc:
            raise LocalAirflowError(f"no password for {USER!r} in {self.passwords_file} yet") from exc

    def _token(self, renew: bool = False) -> str:
        """A JWT for the REST API, fetched once and reused (polling asked for a new one every call)."""
        cached = _TOKENS.get(self.url)
        if cached and not renew:
            return cached
        request = urllib.request.Request(
            f"{self.url}/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": USER, "password": self.password()}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.loads(response.read())["access_token"]
        _TOKENS[self.url] = token
        return token

    def api(self, method: str, path: str, body: object | None = None) -> dict:
        """One call to the REST API as the local admin; raises LocalAirflowError on HTTP errors."""
        for renew in (False, True):
            request = urllib.request.Request(
                f"{self.url}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {self._token(renew)}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    raw = response.read()
                return json.loads(raw) if raw else {}
            except urllib.error.HTTPError as exc:
                if exc.code in (401, 403) and not renew:
                    # an expired token (or services restarted with a new secret) answers 401/403
                    # "Invalid JWT token": log in again once; a real refusal fails the second time
                    continue
                raise LocalAirflowError(
                    f"{method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')[:500]}") from exc
        raise AssertionError("unreachable")

    # -- runs ------------------------------------------------------------------------------------
    def unpause(self, dag_ids: Iterable[str] = DAG_IDS) -> None:
        for dag_id in dag_ids:
            self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def backfill(self, dag_id: str, first: str, last: str, timeout_s: float = 1800,
                 conf: Mapping[str, object] | None = None) -> list[dict]:
        """Run every interval of ``dag_id`` whose logical date is in ``[first, last]`` and wait.

        One run at a time (the DuckDB warehouse has one writer). Runs that exist already are run
        again, with ``conf`` as their run conf (e.g. ``{"rescore": true}``). Returns the runs;
        raises when any run did not succeed, naming the failed tasks so the user knows which log
        to open.
        """
        next_completion = 0.0
        for _ in range(120):  # a previous backfill of this DAG is marked complete a little after its runs
            try:
                backfill = self.api("POST", "/api/v2/backfills", {
                    "dag_id": dag_id, "from_date": first, "to_date": last, "reprocess_behavior": "completed",
                    "max_active_runs": 1, "run_backwards": False, "dag_run_conf": dict(conf or {})})
                break
            except LocalAirflowError as exc:
                # 409: the previous backfill is not marked complete yet; 503: SQLite was busy.
                if not any(m in str(exc).lower() for m in ("http 409", "already", "http 503", "locked")):
                    raise
                # At most every COMPLETION_RETRY_S: while the open backfill's runs are still going
                # (another caller's), each check costs a Python process with Airflow's ORM.
                if ("http 409" in str(exc).lower() and time.monotonic() >= next_completion
                        and os.environ.get("ECOMFLOW_BACKFILL_COMPLETION", "1") != "0"):
                    next_completion = time.monotonic() + COMPLETION_RETRY_S
                    if done := self.complete_finished_backfills(dag_id):
                        print(f"   backfill {', '.join(map(str, done))} of {dag_id}: every run finished; "
                              "marked complete", flush=True)
                        continue
                time.sleep(POLL_S)
        else:
            raise LocalAirflowError(f"an earlier backfill of {dag_id} never completed")
        print(f"   backfill {backfill.get('id')} of {dag_id} [{first} .. {last}] created", flush=True)
        return self.wait_for_runs(dag_id, first, last, timeout_s)

    def complete_finished_backfills(self, dag_id: str) -> list[int]:
        """Mark ``dag_id``'s open backfills complete when none of their runs is left to start (as
        the scheduler does every 30 s; ``backfill_completion`` says why not wait); returns their ids.
        Runs in a process with the stack's environment, which names its metadata database."""
        from tasks.orchestration.backfill_completion import COMPLETED_MARK

        env = self.service_env(_STARTED_WITH.get(self.home, os.environ))
        proc = subprocess.run([sys.executable, "-m", "tasks.orchestration.backfill_completion", dag_id],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise LocalAirflowError(f"marking finished backfills of {dag_id} complete failed:\n{proc.stderr[-2000:]}")
        marked = [line for line in proc.stdout.splitlines() if line.startswith(COMPLETED_MARK)]  # Airflow logs to stdout too
        return [int(i) for i in marked[-1].removeprefix(COMPLETED_MARK).split()] if marked else []

    def runs(self, dag_id: str, first: str, last: str) -> list[dict]:
        query = f"logical_date_gte={_q(first)}&logical_date_lte={_q(last)}&order_by=logical_date&limit=1000"
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?{query}")["dag_runs"]

    def wait_for_runs(self, dag_id: str, first: str, last: str, timeout_s: float) -> list[dict]:
        deadline = time.monotonic() + timeout_s
        reported: set[str] = set()
        revived = 0
        while time.monotonic() < deadline:
            if self.pid("api-server"):
                if revived < MAX_REVIVES:
                    revived += bool(self.revive())
                elif dead := [s for s in AIRFLOW_SERVICES if not self.pid(s)]:
                    raise LocalAirflowError(
                        f"the {dead[0]} died again after {MAX_REVIVES} restarts "
                        f"({_last_error(self.log_file(dead[0]))}); {dag_id} runs [{first} .. {last}] "
                        "cannot finish without it")
            runs = self.runs(dag_id, first, last)
            for run in runs:
                if run["state"] in ("success", "failed") and run["dag_run_id"] not in reported:
                    reported.add(run["dag_run_id"])
                    print(f"   {dag_id} {run['logical_date'][:16]}: {run['state']} "
                          f"in {_duration(run)}", flush=True)
            if runs and all(r["state"] in ("success", "failed") for r in runs):
                failed = [r for r in runs if r["state"] == "failed"]
                if failed:
                    raise LocalAirflowError(self._failure_report(dag_id, failed))
                return runs
            time.sleep(POLL_S)
        raise LocalAirflowError(f"{dag_id} runs [{first} .. {last}] not finished after {timeout_s:.0f} s; "
                                f"see {self.url}/dags/{dag_id}")

    def _failure_report(self, dag_id: str, failed: list[dict]) -> str:
        lines = [f"{dag_id}: {len(failed)} run(s) failed"]
        for run in failed:
            tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run['dag_run_id'])}/taskInstances?limit=200")
            bad = [t["task_id"] for t in tis["task_instances"] if t["state"] in ("failed", "upstream_failed")]
            lines.append(f"  run {run['dag_run_id']}: failed tasks {', '.join(bad) or '?'} — logs: "
                         f"{self.url}/dags/{dag_id}/runs/{_q(run['dag_run_id'])}")
        return "\n".join(lines)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=200")
        return {t["task_id"]: t["state"] for t in tis["task_instances"]}

    def login_hint(self) -> str:
        try:
            login = self.password()
        except LocalAirflowError:
            login = f"(see {self.passwords_file})"
        return (f"Airflow UI: {self.url}  (user {USER}, password {login} — generated on first start, "
                f"kept in {self.passwords_file}); stop it with `make stop`")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs. A service started by this process that has exited stays a zombie
    until it is waited for, and ``kill(pid, 0)`` still succeeds on a zombie: reap it here, and
    read the state of one that is not our child from ``/proc``."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return True


def _last_error(log_file: Path) -> str:
    """The last exception line (``SomeError: ...``) of a service's log, or its last line."""
    try:
        lines = [line.strip() for line in log_file.read_text(errors="replace")[-20000:].splitlines() if line.strip()]
    except OSError:
        return f"no log at {log_file}"
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line)]
    found = errors[-1] if errors else (lines[-1] if lines else "empty log")
    return f"{found[:300]}; log: {log_file}"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _q(value: str) -> str:
    return urllib.request.quote(value, safe="")


def _duration(run: Mapping[str, object]) -> str:
    from datetime import datetime

    start, end = run.get("start_date"), run.get("end_date")
    if not start or not end:
        return "?"
    seconds = (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    return f"{seconds:.0f} s"
