"""Run a command and stream its output into the task log line by line, as it happens.

Why: dbt, spark-submit and similar children used to be read only at the end (or only their
tail on failure), so a running task showed an empty log in the Airflow UI. Lines go to the
caller's logger (which Airflow routes to the task log) and, when asked, to a file that keeps the
complete output. Each child runs in its own process group, registered here, so an operator's
``on_kill`` (task marked failed, cleared or timed out in the UI) can stop the whole tree
(the spark-submit JVM and its Python workers, dbt and its threads) with ``terminate_running``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_RUNNING: set[subprocess.Popen] = set()
_LOCK = threading.Lock()


@dataclass
class StreamResult:
    """Exit status, the last lines (for error messages) and whether the timeout killed it."""

    returncode: int
    tail: list[str] = field(default_factory=list)
    timed_out: bool = False
    lines: int = 0


def signal_group(pid: int, sig: int) -> None:
    """Send ``sig`` to the process group led by ``pid``; a group that is already gone is fine."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    signal_group(proc.pid, sig)


def terminate_running(grace_s: float = 10.0) -> int:
    """SIGTERM every child started by ``stream_command`` in this process, SIGKILL after ``grace_s``.

    Returns how many were running. Called from operators' ``on_kill``.
    """
    with _LOCK:
        procs = list(_RUNNING)
    for proc in procs:
        _kill_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(proc, signal.SIGKILL)
    return len(procs)


def stream_command(
    command: Sequence[str],
    *,
    logger: logging.Logger,
    prefix: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    log_file: Path | None = None,
    timeout_s: float | None = None,
    tail_lines: int = 60,
) -> StreamResult:
    """Run ``command``; log each output line as ``<prefix> | line``; keep the full output in ``log_file``."""
    result = StreamResult(returncode=-1)
    sink = log_file.open("w") if log_file is not None else None
    proc = subprocess.Popen(
        list(command), cwd=cwd, env=dict(env) if env is not None else None, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1, errors="replace",
        start_new_session=True)
    with _LOCK:
        _RUNNING.add(proc)
    timer = None
    if timeout_s is not None:
        def _expire() -> None:
            result.timed_out = True
            _kill_group(proc, signal.SIGKILL)

        timer = threading.Timer(timeout_s, _expire)
        timer.daemon = True
        timer.start()
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            result.lines += 1
            if sink is not None:
                sink.write(raw)
            logger.info("%s | %s", prefix, line)
            result.tail.append(line)
            if len(result.tail) > tail_lines:
                del result.tail[0]
        result.returncode = proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.poll() is None:  # interrupted (e.g. the task was killed): take the children down too
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
        with _LOCK:
            _RUNNING.discard(proc)
        if sink is not None:
            sink.close()
    return result
