"""Wakes the local scheduler the moment a task's end is recorded (a listener of every task).

Why: the local stack's executor (``executor.py``) lets the scheduler wait for news instead of
re-reading the running DAG runs five times a second. A worker's report comes only after the
task's supervisor has exited, up to ``[workers] min_heartbeat_interval`` (1 s) after the task
recorded its state through the API, and the downstream tasks could start from that state. So
each task process, right after its terminal state is recorded (listeners run after the task
runner's report to its supervisor was answered), sends one datagram to the scheduler of its
``AIRFLOW_HOME``, which the executor waits on together with its result queue.

A Linux abstract-namespace socket: no file to clean up, no path-length limit, gone with the
scheduler. Where nothing listens (another executor, a scheduler on another machine, not Linux)
the send fails and is ignored: this is a latency hint, never a correctness path.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import Any

from airflow.listeners import hookimpl


def wake_address(airflow_home: str | None = None) -> bytes:
    """The abstract socket name of the scheduler of one AIRFLOW_HOME."""
    home = os.path.realpath(airflow_home or os.environ.get("AIRFLOW_HOME", "~/airflow"))
    return b"\0ecomflow-scheduler-wake-" + hashlib.sha256(home.encode()).hexdigest()[:16].encode()


def bind_wake_socket(airflow_home: str | None = None) -> socket.socket | None:
    """The scheduler's end: a non-blocking datagram socket, or None where it cannot be bound."""
    if not hasattr(socket, "AF_UNIX") or os.uname().sysname != "Linux":
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(wake_address(airflow_home))
    except OSError:  # another scheduler of this home holds it
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> int:
    """Read every pending wake-up; how many there were."""
    count = 0
    while True:
        try:
            sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return count
        count += 1


def wake_scheduler(airflow_home: str | None = None) -> bool:
    """Tell the local scheduler a task ended; False where nothing listens."""
    if not hasattr(socket, "AF_UNIX"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            sock.sendto(b"1", wake_address(airflow_home))
    except OSError:
        return False
    return True


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    wake_scheduler()


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    wake_scheduler()


@hookimpl
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    wake_scheduler()
