"""A warm dbt process that runs short dbt builds for many tasks: one per model, without re-starting dbt.

Why: a dbt process spends ~3 s starting (Python and dbt imports, loading the parsed project)
before it builds anything, and one task per dbt model pays that once per model: measured on
tests/dbt's sample warehouse (benchmarks/dbt_tasks.py), 19 mart-layer tasks as separate dbt
processes took ~10x one `dbt build` of the same models. This worker imports dbt once, keeps the
parsed project (dbt's own ``Manifest``, re-parsed when the project files or profile
settings change) with every macro's Jinja template compiled, and serves each request by
``fork()``: the child starts with dbt imported, the manifest loaded and the macros compiled,
runs ``dbtRunner(manifest=...).invoke(args)`` and exits (which closes its warehouse connection,
so the DuckDB file is free again). dbt's own output goes straight to the
requesting task, which logs it line by line, and the task can kill the child (``on_kill``).

Requests are served one at a time (the DuckDB file takes one writer anyway; callers hold
``dbt_runner.warehouse_lock`` too). The worker listens on ``$ECOMFLOW_HOME/dbt/worker.sock``
(mode 0600), is started on demand by the first caller and exits after ``IDLE_EXIT_S`` without a
request. Callers fall back to a plain dbt process when the worker cannot be reached.

Protocol (text lines over a Unix socket): request = one JSON line ``{"args", "env", "cwd"}``;
reply = ``@pid N`` (the child), dbt's output lines, ``@result {"success": ...}`` and
``@exit CODE`` (the child's exit status as the worker saw it). A request with ``"prepare": true``
only parses the project for those args and environment (no build, no child): the reply is
``@exit 0`` (``@exit 1`` when the parse failed). ``prepare`` sends one when a DAG run starts,
so the first model task finds the project parsed instead of waiting for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

IDLE_EXIT_S = 180  # bridges the gaps between one DAG run's dbt tasks; leaves nothing behind for long
START_TIMEOUT_S = 90
# Flags of a build that change what dbt parses: the worker re-parses when one of them changes.
# Not --vars: the project reads its one var (as_of_date, macros/as_of_filter.sql) only when a
# model's SQL is compiled, which dbt does per invocation with that invocation's --vars; no
# config, source or yml reads a var (tests/dags/test_dbt_model_tasks.py checks both). Keyed on
# the vars, every hourly run re-parsed the whole project (~2.5 s on 2 cores) for its new hour.
_PARSE_FLAGS = ("--target", "-t", "--project-dir", "--profiles-dir")
# The environment the parsed project depends on: dbt's own DBT_* settings and the ECOMFLOW_*
# values the profile reads with env_var() (no model, source or yml reads one; the test below
# checks). Not the whole environment: an Airflow task's has per-task values (AIRFLOW_CTX_TASK_ID,
# its try number, ...), so keyed on all of it the worker re-parsed the project for every model
# task, ~1-2 s each (75 parses in one run of tests/e2e/test_scheduler.py).
_PARSE_ENV_PREFIXES = ("DBT_", "ECOMFLOW_")

#: Set to 0 in a request's environment to fork builds without precompiled macros (benchmarks).
PRECOMPILE_FLAG = "ECOMFLOW_DBT_PRECOMPILE_MACROS"

_CHILDREN: set[int] = set()
_CHILDREN_LOCK = threading.Lock()


@dataclass
class WorkerRun:
    """Exit status and the last output lines of one dbt command run by the worker."""

    returncode: int
    tail: list[str] = field(default_factory=list)


class WorkerUnavailable(RuntimeError):
    """The worker could not be started or reached; the caller runs dbt as a process instead."""


def socket_path(dbt_home: Path) -> Path:
    return dbt_home / "worker.sock"


# ----------------------------------------------------------------------------- client side


def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def _start_worker(dbt_home: Path) -> socket.socket:
    """Connect to the worker of this dbt home, starting it first when none is listening."""
    path = socket_path(dbt_home)
    with contextlib.suppress(OSError):
        return _connect(path)
    dbt_home.mkdir(parents=True, exist_ok=True)
    with (dbt_home / "worker.start.lock").open("a+") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # one starter at a time; the others then connect
        with contextlib.suppress(OSError):
            return _connect(path)
        path.unlink(missing_ok=True)  # left by a worker that died
        with (dbt_home / "worker.log").open("a") as out:
            subprocess.Popen([sys.executable, "-m", "tasks.transform.dbt_worker", "serve", str(path)],
                             stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, env=dict(os.environ))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                return _connect(path)
            time.sleep(0.1)
    raise WorkerUnavailable(f"the dbt worker did not start within {START_TIMEOUT_S} s (log: {dbt_home / 'worker.log'})")


def run_in_worker(args: Sequence[str], *, env: Mapping[str, str], cwd: Path, dbt_home: Path,
                  logger: logging.Logger, tail_lines: int = 40) -> WorkerRun:
    """Run ``dbt <args>`` in the worker; log each output line as ``dbt | line`` as it arrives."""
    try:
        sock = _start_worker(dbt_home)
    except OSError as exc:
        raise WorkerUnavailable(f"cannot reach the dbt worker at {socket_path(dbt_home)}: {exc}") from exc
    run = WorkerRun(returncode=-1)
    child = None
    with sock, sock.makefile("r", encoding="utf-8", errors="replace") as lines:
        sock.sendall((json.dumps({"args": list(args), "env": dict(env), "cwd": str(cwd)}) + "\n").encode())
        try:
            for raw in lines:
                line = raw.rstrip("\n")
                if line.startswith("@pid "):
                    child = int(line.split()[1])
                    with _CHILDREN_LOCK:
                        _CHILDREN.add(child)
                elif line.startswith("@exit "):
                    run.returncode = int(line.split()[1])
                elif line.startswith("@result "):
                    compiled = json.loads(line.split(" ", 1)[1]).get("macros_compiled")
                    logger.debug("dbt worker: %s macros compiled in the build", compiled)
                else:
                    logger.info("dbt | %s", line)
                    run.tail = [*run.tail[-(tail_lines - 1):], line]
        finally:
            if child is not None:
                with _CHILDREN_LOCK:
                    _CHILDREN.discard(child)
    if child is None:
        raise WorkerUnavailable("the dbt worker closed the connection before running dbt")
    return run


def terminate_children() -> int:
    """Kill the dbt children this process asked the worker for (an operator's ``on_kill``)."""
    with _CHILDREN_LOCK:
        children = list(_CHILDREN)
    for pid in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)  # dbt's child holds no state worth a graceful stop
    return len(children)


def stop_worker(dbt_home: Path) -> None:
    """Ask the worker of this dbt home to exit now (tests, ``make clean``); none running is fine."""
    with contextlib.suppress(OSError), _connect(socket_path(dbt_home)) as sock:
        sock.sendall(b'{"stop": true}\n')
        sock.recv(16)


# ----------------------------------------------------------------------------- worker side


def prepare(args: Sequence[str], *, env: Mapping[str, str], cwd: Path, dbt_home: Path) -> None:
    """Have the worker (started when none listens) parse the project for ``args`` and ``env``
    now, without waiting for it: the request is queued on the worker's socket and this returns.

    Why: the worker starts on demand and idles out after ``IDLE_EXIT_S``, so the first dbt model
    task of every daily run paid its start (dbt imports) and the project's parse, 3-5 s on an idle
    machine and 10-13 s under load, while holding the warehouse lock and with every other model
    task waiting behind it. Asked by the run's first task (ingest), that work overlaps the ingest
    and its GX gate. The worker binds its socket before importing dbt, so this costs the caller
    about a Python start-up when the worker is not running, nothing when it is. The parse reads
    project files only (no warehouse connection), so it needs no warehouse lock.
    """
    request = {"args": list(args), "env": dict(env), "cwd": str(cwd), "prepare": True}
    try:
        with _start_worker(dbt_home) as sock:
            sock.sendall((json.dumps(request) + "\n").encode())
    except (OSError, WorkerUnavailable) as exc:
        log.info("dbt worker: not prepared ahead (%s); the first dbt task will parse", exc)
        return
    log.info("dbt worker: asked to parse the project ahead of the run's dbt tasks")


def _parse_key(args: Sequence[str], env: Mapping[str, str], cwd: str) -> tuple[str, list[str]]:
    """(cache key, parse command) for a request: what the manifest depends on."""
    from tasks.transform.dbt_graph import project_fingerprint

    parse_args = ["parse"]
    for i, arg in enumerate(args):
        if arg in _PARSE_FLAGS and i + 1 < len(args):
            parse_args += [arg, args[i + 1]]
    project = Path(args[args.index("--project-dir") + 1]) if "--project-dir" in args else Path(cwd)
    parse_env = sorted((k, v) for k, v in env.items() if k.startswith(_PARSE_ENV_PREFIXES))
    key = json.dumps([project_fingerprint(project), parse_args, parse_env, cwd])
    return hashlib.sha256(key.encode()).hexdigest(), parse_args


# Per-request savings, ~0.25 s of ~0.9 s per model (benchmarks/dbt_tasks.py): no 1 MB manifest.json
# written per model (the worker's parse wrote it) and no listing of every schema up front.
_FAST_FLAGS = ("--no-write-json", "--no-populate-cache")


def _child(conn: socket.socket, runner_cls: type, manifest: object, args: list[str]) -> None:
    """In the forked child: dbt's output to the socket, run, write run_results.json, report, exit."""
    os.dup2(conn.fileno(), 1)
    os.dup2(conn.fileno(), 2)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = sys.stdout
    print(f"@pid {os.getpid()}", flush=True)
    code = 2
    try:  # everything in here: a child must never leave this function but through os._exit
        from dbt_common.clients.jinja import template_cache

        inherited = len(template_cache.file_cache)
        result = runner_cls(manifest=manifest).invoke([*args, *_FAST_FLAGS])
        code = 0 if result.success else 1
        if hasattr(result.result, "write") and os.environ.get("DBT_TARGET_PATH"):
            # What --no-write-json left out and callers read (failed nodes, tests' own checks).
            # `source freshness` reports in sources.json (its result class writes that format).
            name = "sources.json" if list(args[:2]) == ["source", "freshness"] else "run_results.json"
            result.result.write(str(Path(os.environ["DBT_TARGET_PATH"]) / name))
        compiled = len(template_cache.file_cache) - inherited  # 0 when the worker precompiled them all
        print("@result " + json.dumps({"success": bool(result.success), "macros_compiled": compiled}), flush=True)
    except BaseException as exc:  # noqa: BLE001 - reported to the task, then the child exits
        print(f"dbt worker: {type(exc).__name__}: {exc}", flush=True)
    finally:
        sys.stdout.flush()
        os._exit(code)


def serve(path: Path, idle_exit_s: float = IDLE_EXIT_S) -> None:
    """Listen on ``path`` and run dbt commands one at a time until idle for ``idle_exit_s``."""
    # Listening first, importing dbt after: a starter (``_start_worker``) connects within a Python
    # start-up instead of waiting for dbt's imports, and its request waits in the backlog meanwhile.
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(16)
    try:
        _serve(server, path, idle_exit_s)
    finally:
        server.close()
        path.unlink(missing_ok=True)


def _serve(server: socket.socket, path: Path, idle_exit_s: float) -> None:
    # What every forked build would otherwise redo: import the build/freshness tasks (dbt imports
    # them lazily, ~0.1 s) and scan all of site-packages for dbt plugin modules (~0.06-0.2 s per
    # build; dbt keeps the scan only with its module cache on, which caches nothing else that a
    # long-lived process could see go stale: the scan and jinja's static macro extraction by source).
    import dbt.task.build  # noqa: F401
    import dbt.task.freshness  # noqa: F401
    from dbt.cli.main import dbtRunner  # the expensive import, once for every request
    from dbt_common.tests import enable_test_caching

    enable_test_caching()

    manifests: dict[str, object] = {}
    server.settimeout(idle_exit_s)
    print(f"dbt worker {os.getpid()} listening on {path}", flush=True)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            print(f"dbt worker idle for {idle_exit_s:.0f} s: exiting", flush=True)
            return
        with conn:
            conn.settimeout(None)
            request = json.loads(conn.makefile("r").readline() or "{}")
            if request.get("stop"):
                conn.sendall(b"ok\n")
                return
            _handle(conn, request, dbtRunner, manifests)


def _compile_macros(manifest: object, enabled: bool = True) -> int:
    """Compile the Jinja template of every macro of the parsed project, once, in this process.

    Why: dbt keeps compiled macro templates in a process-wide cache (``dbt_common``'s
    ``template_cache``, keyed by the macro's source and compiled without any context) that a
    long-lived dbt process fills as it goes; every forked build started with it empty and
    compiled the ~100 macros a model build calls again (materialisation, adapter and test macros):
    about a quarter of a warm one-model build's CPU in py-spy. Compiled here, before the fork,
    the children inherit them. A macro that fails to compile is left to the build that calls it,
    which reports dbt's own error. ``enabled=False`` (``ECOMFLOW_DBT_PRECOMPILE_MACROS=0``) empties
    the cache instead: the baseline of benchmarks/dbt_tasks.py.
    """
    from dbt_common.clients.jinja import template_cache

    if not enabled:
        template_cache.clear()
        return 0
    compiled = 0
    for macro in getattr(manifest, "macros", {}).values():
        try:
            template_cache.get_node_template(macro)
        except Exception:  # noqa: BLE001,S112 - the build that uses it reports the error
            continue
        compiled += 1
    return compiled


def _handle(conn: socket.socket, request: dict, runner_cls: type, manifests: dict[str, object]) -> None:
    args, env, cwd = list(request["args"]), dict(request["env"]), request["cwd"]
    os.environ.clear()
    os.environ.update(env)  # the profile's env_var()s and dbt's DBT_* settings, as run_dbt set them
    os.chdir(cwd)
    key, parse_args = _parse_key(args, env, cwd)
    if key not in manifests:
        started = time.monotonic()
        parsed = runner_cls().invoke([*parse_args, "--quiet"])
        if not parsed.success:  # let the child run the command without a manifest: dbt reports the error
            manifests.clear()
        else:
            manifests.clear()
            manifests[key] = parsed.result
            compiled = _compile_macros(parsed.result, enabled=env.get(PRECOMPILE_FLAG, "1") != "0")
            print(f"parsed the project and compiled {compiled} macros in {time.monotonic() - started:.1f} s"
                  + (" (prepared ahead)" if request.get("prepare") else ""), flush=True)
    if request.get("prepare"):
        with contextlib.suppress(OSError):  # the requester may be gone: it does not wait
            conn.sendall(f"@exit {0 if key in manifests else 1}\n".encode())
        return
    pid = os.fork()
    if pid == 0:
        _child(conn, runner_cls, manifests.get(key), args)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):
        conn.sendall(f"@exit {code}\n".encode())


if __name__ == "__main__":  # python -m tasks.transform.dbt_worker serve SOCKET
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: python -m tasks.transform.dbt_worker serve SOCKET_PATH")
    serve(Path(sys.argv[2]))
