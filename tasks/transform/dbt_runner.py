"""Run the dbt project from Python tasks.

dbt runs as a subprocess of the interpreter's own environment rather than through
``dbtRunner`` in-process: the subprocess exits when done, which is what releases the
DuckDB file lock (an in-process adapter keeps its connection cached), and it keeps dbt's
global logging/flags out of the Airflow worker. The one-task-per-model builds use the warm
dbt worker instead (``warm=True``, ``tasks.transform.dbt_worker``): the same process boundary
(each command runs in a child that exits), without paying dbt's start-up once per model.
Every run holds ``warehouse_lock`` (one dbt at a time per warehouse). Artefacts (``target/``,
``logs/``) go under ``$ECOMFLOW_HOME/dbt/`` so runs never dirty the repository.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tasks.settings import REPO_ROOT, get_settings
from tasks.subprocess_stream import stream_command

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

# Folders of dbt_project/models, in build order. `serving` reads tables that the
# scoring tasks write, so it is built separately once they exist.
LAYERS: dict[str, tuple[str, ...]] = {
    "warehouse": ("staging", "intermediate", "marts"),
    "staging": ("staging",),
    "intermediate": ("intermediate",),
    "marts": ("marts",),
    "serving": ("serving",),
}

# Sub-commands that connect to a target (and so accept --target / --profiles-dir).
_TARGET_COMMANDS = {
    "build", "run", "test", "seed", "snapshot", "compile", "show", "parse", "ls", "list",
    "debug", "docs", "source", "run-operation", "retry", "clone",
}
_FAILED_STATUSES = {"error", "fail", "runtime error"}


class DbtError(RuntimeError):
    """dbt exited non-zero. ``failed_nodes`` names the models/tests that failed."""

    def __init__(self, message: str, failed_nodes: list[str], returncode: int) -> None:
        super().__init__(message)
        self.failed_nodes = failed_nodes
        self.returncode = returncode


def dbt_home() -> Path:
    """Where dbt writes target/ and logs/ for this ECOMFLOW_HOME."""
    return get_settings().home / "dbt"


def _dbt_executable() -> Path:
    exe = Path(sys.executable).parent / "dbt"
    if not exe.exists():
        raise FileNotFoundError(
            f"dbt CLI not found beside the interpreter at {exe}; install dbt-core in this environment"
        )
    return exe


_DBT_THREADS = threading.RLock()


@contextmanager
def warehouse_lock() -> Iterator[None]:
    """Hold ``$ECOMFLOW_HOME/dbt/dbt.lock`` while dbt runs: one dbt at a time per warehouse.

    Why: DuckDB allows a single writer process, and every dbt run shares ``target/``
    (``run_results.json``, ``partial_parse.msgpack``). dbt tasks of one DAG run (one per model,
    two may be started at once) and of other DAGs (the hourly serving rebuild during a daily run)
    wait here instead of failing on the DuckDB lock. An OS lock (``flock``) is released by the
    kernel when the holder exits, so a killed task never leaves a stale lock behind.
    """
    from tasks.warehouse.engine import duckdb_writer_lock  # not at import: DAG files import this module

    path = dbt_home() / "dbt.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    # DuckDB: first the warehouse file's process lock, as every ecomflow connection takes it
    # (tasks.warehouse.engine.duckdb_writer_lock), so a task's warehouse write and a dbt run
    # take turns instead of one failing on DuckDB's own lock and retrying seconds later. Always
    # in this order (writer lock, then dbt.lock); the thread lock keeps two threads of one
    # process from running dbt at once (the writer lock is re-entrant for the whole process).
    with duckdb_writer_lock(), _DBT_THREADS, path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("dbt: waiting for another dbt run on this warehouse to finish (lock %s)", path)
            started = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log.info("dbt: lock acquired after %.1f s", time.monotonic() - started)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _failed_nodes(target_path: Path) -> list[str]:
    """Failing nodes from run_results.json ("model.ecomflow.dim_users: error: ...")."""
    results_file = target_path / "run_results.json"
    if not results_file.exists():
        return []
    try:
        results = json.loads(results_file.read_text()).get("results", [])
    except (OSError, ValueError):
        return []
    failed = []
    for result in results:
        if str(result.get("status", "")).lower() in _FAILED_STATUSES:
            message = (result.get("message") or "").strip().splitlines()
            failed.append(f"{result.get('unique_id')}: {result.get('status')}"
                          + (f": {message[0]}" if message else ""))
    return failed


def run_dbt(
    args: list[str],
    extra_env: Mapping[str, str] | None = None,
    project_dir: Path | None = None,
    lock: bool = True,
    warm: bool = False,
) -> None:
    """Run ``dbt <args>`` against the configured warehouse; raise DbtError on failure.

    ``args`` starts with the sub-command (``["build", "--select", "marts"]``). Project,
    profiles, target, target-path and log-path are added here, and the profile's
    ``env_var()`` credentials come from ``Settings.dbt_env()``. ``project_dir`` exists
    for tests that build a modified copy of the project. Output is streamed to the logger
    line by line so it shows in the Airflow task log. ``lock`` (default) waits for
    ``warehouse_lock``; only a ``dbt parse`` into its own target dir may skip it. ``warm``
    runs the command in the warm dbt worker (``tasks.transform.dbt_worker``: no dbt start-up
    per call, for the one-task-per-model builds), falling back to a dbt process when the worker
    cannot be reached.
    """
    if not args:
        raise ValueError("run_dbt needs a dbt sub-command, e.g. ['build']")
    settings = get_settings()
    command, env, project, home = _invocation(args, extra_env, project_dir)
    target_path, log_path = home / "target", home / "logs"

    with warehouse_lock() if lock else nullcontext():
        # Inside the lock: the run_results.json of a run that finished meanwhile is not ours.
        (target_path / "run_results.json").unlink(missing_ok=True)
        log.info("dbt: %s (target=%s%s)", " ".join(args), settings.dbt_target, ", warm worker" if warm else "")
        for attempt in range(1, LOCKED_FILE_ATTEMPTS + 1):
            run = _run_once(command, env, project, home, warm)
            if run.returncode == 0 or not _duckdb_file_locked(run.tail) or attempt == LOCKED_FILE_ATTEMPTS:
                break
            # Another process (an ecomflow task writing the warehouse, outside dbt's own lock) holds
            # the DuckDB file: dbt failed while connecting, before building anything. Wait, as
            # tasks.warehouse.connect does, instead of failing the task.
            log.info("dbt: the DuckDB file is locked by another process; retrying in %.0f s (%d/%d)",
                     LOCKED_FILE_WAIT_S, attempt, LOCKED_FILE_ATTEMPTS)
            time.sleep(LOCKED_FILE_WAIT_S)
        if run.returncode != 0:
            failed = _failed_nodes(target_path)
    returncode, tail = run.returncode, run.tail
    if returncode != 0:
        detail = "\n  ".join(failed) if failed else "\n  ".join(tail[-15:])
        raise DbtError(
            f"dbt {' '.join(args)} failed (exit {returncode}, target {settings.dbt_target}); "
            f"failing nodes:\n  {detail}\nlogs: {log_path / 'dbt.log'}",
            failed_nodes=[f.split(":")[0] for f in failed],
            returncode=returncode,
        )


def _invocation(args: Sequence[str], extra_env: Mapping[str, str] | None = None,
                project_dir: Path | None = None) -> tuple[list[str], dict[str, str], Path, Path]:
    """(command, environment, project dir, dbt home) of ``dbt <args>``: project, profiles and
    target added, the profile's credentials from ``Settings.dbt_env()``, target/log paths under
    the dbt home (created)."""
    settings = get_settings()
    project = Path(project_dir or DBT_PROJECT_DIR)
    home = dbt_home()
    target_path = home / "target"
    log_path = home / "logs"
    target_path.mkdir(parents=True, exist_ok=True)
    log_path.mkdir(parents=True, exist_ok=True)
    command = [str(_dbt_executable()), *args]
    if args[0] in _TARGET_COMMANDS:
        command += ["--project-dir", str(project), "--profiles-dir", str(project)]
        if "--target" not in args and "-t" not in args:
            command += ["--target", settings.dbt_target]
    env = dict(os.environ)
    env.update(settings.dbt_env())
    env.update(
        {
            "DBT_TARGET_PATH": str(target_path),
            "DBT_LOG_PATH": str(log_path),
            "DBT_PROJECT_DIR": str(project),
            "DBT_PROFILES_DIR": str(project),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": "false",
        }
    )
    env.update(extra_env or {})
    return command, env, project, home


def prepare_worker() -> None:
    """Have the warm dbt worker start and parse the project for this run's model builds now,
    without waiting for it (``dbt_worker.prepare``). Called by a DAG run's first task so the
    first model task does not wait for dbt's start and parse. ``ECOMFLOW_DBT_PREPARE=0`` turns
    it off (the baseline of benchmarks/local_stack.py)."""
    from tasks.transform.dbt_worker import prepare

    if os.environ.get("ECOMFLOW_DBT_PREPARE", "1") == "0":
        return
    try:  # an optimisation: a machine without dbt (an ingest-only worker) still ingests
        command, env, project, home = _invocation(["build"])
    except OSError as exc:
        log.info("dbt worker: not prepared ahead (%s)", exc)
        return
    prepare(command[1:], env=env, cwd=project, dbt_home=home)


LOCKED_FILE_ATTEMPTS = 30
LOCKED_FILE_WAIT_S = 2.0


def _duckdb_file_locked(tail: Sequence[str]) -> bool:
    text = "\n".join(tail).lower()
    return "could not set lock" in text or "conflicting lock" in text


def _run_once(command: list[str], env: dict[str, str], project: Path, home: Path, warm: bool):  # noqa: ANN202
    """One dbt invocation: in the warm worker when asked and reachable, else a dbt process."""
    if warm:
        from tasks.transform.dbt_worker import WorkerUnavailable, run_in_worker

        try:
            return run_in_worker(command[1:], env=env, cwd=project, dbt_home=home, logger=log)
        except WorkerUnavailable as exc:
            log.warning("dbt: %s; running dbt as a process instead", exc)
    return stream_command(command, logger=log, prefix="dbt", env=env, cwd=project, tail_lines=40)


def layer_selector(layers: Iterable[str]) -> list[str]:
    """dbt --select values (model folders) for layer names, e.g. 'warehouse' or 'serving'."""
    folders: list[str] = []
    for layer in layers:
        if layer not in LAYERS:
            raise ValueError(f"unknown dbt layer {layer!r}; expected one of {sorted(LAYERS)}")
        folders += [f for f in LAYERS[layer] if f not in folders]
    return [f"path:models/{folder}" for folder in folders]


def build_layer(layer: str, extra_args: list[str] | None = None) -> None:
    """``dbt build`` one layer: 'warehouse' (staging+intermediate+marts), a single folder, or 'serving'.

    ``--indirect-selection buildable`` keeps tests that also touch an unselected layer
    (e.g. a serving test reading a mart) out of the marts build, where their model is absent.
    """
    run_dbt(
        ["build", "--select", *layer_selector([layer]), "--indirect-selection", "buildable",
         *(extra_args or [])]
    )


def generate_docs() -> Path:
    """``dbt docs generate --static`` against the configured warehouse; returns the page.

    ``--static`` embeds the manifest and catalog in one ``static_index.html`` that opens from
    disk without a web server or internet (the plain ``index.html`` fetches both over HTTP).
    Run through ``run_dbt`` so the profile's ``env_var()`` settings are set (a bare
    ``dbt docs generate`` fails on ``ECOMFLOW_DUCKDB_PATH``).
    """
    run_dbt(["docs", "generate", "--static"])
    page = dbt_home() / "target" / "static_index.html"
    if not page.is_file():
        raise DbtError(f"dbt docs generate --static wrote no {page}")
    return page


# dbt reports an empty table's newest loaded_at as this sentinel (age: about 2000 years).
_EMPTY_SENTINEL = "0001-01-01"


@dataclass(frozen=True)
class SourceFreshness:
    """One source table's ``dbt source freshness`` result, as the task log shows it.

    ``status`` is dbt's ``pass`` / ``warn`` / ``error`` / ``runtime error``, or ``missing`` when
    the table does not exist yet (a scoring output before its first run).
    """

    source: str
    relation: str
    status: str
    max_loaded_at: str | None = None
    age_hours: float | None = None
    warn_after: str | None = None
    message: str = ""

    def line(self) -> str:
        """``raw.events: WARN - newest row 2026-01-08 23:59:00 UTC, 325.4 days old (warn after 2 day)``."""
        if self.message:
            detail = self.message
        elif self.age_hours is None:
            detail = "no age reported"
        else:
            age = f"{self.age_hours / 24:.1f} days" if self.age_hours >= 48 else f"{self.age_hours:.1f} h"
            detail = f"newest row {self.max_loaded_at}, {age} old"
        limit = f" (warn after {self.warn_after})" if self.warn_after else ""
        return f"{self.source}: {self.status.upper()} - {detail}{limit}"

    def as_dict(self) -> dict:
        return asdict(self)


def _checked_sources(target_path: Path) -> dict[str, tuple[str, str, str | None]]:
    """Sources ``dbt source freshness`` checks (those with a freshness rule), from the run's
    manifest: unique_id -> (source.table, schema.identifier, warn_after)."""
    try:
        sources = json.loads((target_path / "manifest.json").read_text()).get("sources", {})
    except (OSError, ValueError):
        return {}
    checked = {}
    for uid, node in sources.items():
        rule = node.get("freshness") or {}
        warn, error = rule.get("warn_after") or {}, rule.get("error_after") or {}
        if warn.get("count") or error.get("count"):
            checked[uid] = (f"{node['source_name']}.{node['name']}", f"{node['schema']}.{node['identifier']}",
                            f"{warn['count']} {warn['period']}" if warn.get("count") else None)
    return checked


def _judge(raw: dict | None, source: str, relation: str, warn_after: str | None) -> SourceFreshness:
    """One source's result; ``raw`` is its sources.json entry (None: dbt could not check it)."""
    from tasks.warehouse import table_exists

    if raw is None:  # dbt leaves runtime errors out of sources.json
        if not table_exists(relation):
            return SourceFreshness(source, relation, "missing", warn_after=warn_after,
                                   message=f"table {relation} does not exist yet")
        return SourceFreshness(source, relation, "runtime error", warn_after=warn_after,
                               message="dbt could not check it (its error is in the dbt output above)")
    status = str(raw.get("status", "")).lower()
    max_loaded_at = raw.get("max_loaded_at")
    if max_loaded_at and str(max_loaded_at).startswith(_EMPTY_SENTINEL):
        return SourceFreshness(source, relation, status, warn_after=warn_after, message="table is empty")
    age_s = raw.get("max_loaded_at_time_ago_in_s")
    if max_loaded_at:  # "2026-01-03T08:00:00+00:00" -> "2026-01-03 08:00:00 UTC"
        moment = datetime.fromisoformat(str(max_loaded_at))
        moment = moment.astimezone(UTC) if moment.tzinfo else moment
        max_loaded_at = f"{moment:%Y-%m-%d %H:%M:%S} UTC"
    return SourceFreshness(source, relation, status, max_loaded_at=max_loaded_at, warn_after=warn_after,
                           age_hours=None if age_s is None else round(float(age_s) / 3600, 1))


def source_freshness(dbt_vars: Mapping[str, str] | None = None, warm: bool = False) -> list[SourceFreshness]:
    """``dbt source freshness`` of every source with a freshness rule; logs one line per table.

    Old data only warns: the sources declare ``warn_after`` and no ``error_after`` (replayed and
    synthetic history is old by design), and a table that does not exist yet (a scoring output
    before its first run, which dbt counts as a runtime error) is reported as ``missing``; a
    source given an ``error_after`` would be logged as ERROR, still without failing the task.
    Raises ``DbtError`` only when dbt could not check a table that exists (a broken
    ``loaded_at_field``, a lost connection) or could not run at all.

    ``dbt_vars`` and ``warm`` as the DAG's model tasks pass them: with the same ``--vars`` the
    warm worker keeps its parsed project (other vars made dbt re-parse the whole project, ~2 s,
    on top of the ~3 s a dbt process spends starting).
    """
    target_path = dbt_home() / "target"
    results_file = target_path / "sources.json"
    results_file.unlink(missing_ok=True)  # a stale file must not pass for this run's results
    failure: DbtError | None = None
    try:
        run_dbt(["source", "freshness", *(["--vars", json.dumps(dict(dbt_vars))] if dbt_vars else [])], warm=warm)
    except DbtError as exc:
        failure = exc  # judged per source below: a table that does not exist yet is no failure
    try:
        by_id = {r["unique_id"]: r for r in json.loads(results_file.read_text()).get("results", [])}
    except (OSError, ValueError):
        if failure is not None:
            raise failure from None
        raise DbtError(f"dbt source freshness wrote no {results_file}", failed_nodes=[], returncode=0) from None
    checked = _checked_sources(target_path)
    results = sorted((_judge(by_id.get(uid), *names) for uid, names in checked.items()), key=lambda r: r.source)
    counts: dict[str, int] = {}
    for result in results:
        log.log(logging.INFO if result.status == "pass" else logging.WARNING, "freshness %s", result.line())
        counts[result.status] = counts.get(result.status, 0) + 1
    log.info("source freshness: %s (old data only warns)",
             ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no sources checked")
    broken = [r for r in results if r.status == "runtime error"]
    if broken:
        raise DbtError(
            "dbt source freshness could not check existing table(s):\n  " + "\n  ".join(r.line() for r in broken),
            failed_nodes=[f"source.{r.source}" for r in broken],
            returncode=failure.returncode if failure else 1,
        )
    return results
