"""The local stack's executor (plugins/ecomflow_airflow/executor.py): its heartbeat waits for a
running task's result instead of returning at once, so the scheduler does not re-read the DAG
run every 0.2 s while tasks run; with nothing running it never waits.

Real multiprocessing queues of a real (subclassed) Airflow LocalExecutor; the result is put by
another process, as a LocalExecutor worker does. What the change saves is measured in
benchmarks/local_stack.py (scheduler CPU, busy core-seconds), not here.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

WAIT_S = 20.0  # far longer than any delay below: a return before it means a result woke the wait


def _report_after(queue: multiprocessing.SimpleQueue, key: object, delay_s: float) -> None:
    time.sleep(delay_s)
    from airflow.utils.state import TaskInstanceState

    queue.put((key, TaskInstanceState.SUCCESS, None))


@dataclass(frozen=True)
class TaskInstance:
    priority_weight: int = 1


@dataclass(frozen=True)
class Workload:
    """What the executor reads of a task workload: its key, the state a worker reports on
    pick-up (None for a task, as airflow.executors.workloads.ExecuteTask) and the TI's priority."""

    key: object
    running_state: object = None
    ti: TaskInstance = TaskInstance()


def _wake_after(airflow_home: str, delay_s: float) -> None:
    time.sleep(delay_s)
    from ecomflow_airflow.scheduler_wake import wake_scheduler

    assert wake_scheduler(airflow_home)


@pytest.fixture
def executor(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:  # noqa: ANN001
    from ecomflow_airflow.executor import LocalExecutor
    from ecomflow_airflow.scheduler_wake import bind_wake_socket

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))

    ex = LocalExecutor(parallelism=2)
    ex.result_wait_s = WAIT_S
    # What LocalExecutor.start() opens; the test plays the worker processes (none is forked).
    ex.activity_queue, ex.result_queue, ex.workers = multiprocessing.SimpleQueue(), multiprocessing.SimpleQueue(), {}
    ex._unread_messages = multiprocessing.Value(ctypes.c_uint)
    ex._check_workers = lambda: None
    ex.wake_socket = bind_wake_socket()  # what start() binds after forking the workers
    assert ex.wake_socket is not None
    yield ex
    ex.activity_queue.close()
    ex.result_queue.close()
    ex.wake_socket.close()


def _key(task_id: str) -> object:
    from airflow.models.taskinstancekey import TaskInstanceKey

    return TaskInstanceKey("ecomflow_daily", task_id, "run", 1, -1)


def _hand_out(executor, task_id: str) -> object:  # noqa: ANN001
    """Queue a task and hand it to the workers, as the scheduler's heartbeat does."""
    key = _key(task_id)
    executor.queued_tasks[key] = Workload(key)
    executor.trigger_tasks(executor.parallelism)
    assert key not in executor.queued_tasks
    return key


def test_heartbeat_waits_for_a_running_tasks_result_and_wakes_on_it(executor) -> None:  # noqa: ANN001
    from airflow.utils.state import TaskInstanceState

    key = _hand_out(executor, "features.compute")
    reporter = multiprocessing.Process(target=_report_after, args=(executor.result_queue, key, 1.0))
    reporter.start()
    started = time.monotonic()
    executor.sync()
    took = time.monotonic() - started
    reporter.join(30)
    assert took >= 0.9, f"sync returned after {took:.2f} s, before the running task reported"
    assert took < WAIT_S, f"sync did not wake on the result ({took:.1f} s)"
    assert executor.event_buffer[key][0] == TaskInstanceState.SUCCESS
    started = time.monotonic()
    executor.sync()  # its end was read: nothing is out any more, so no wait
    assert time.monotonic() - started < WAIT_S / 2


def test_a_tasks_recorded_end_wakes_the_heartbeat_before_its_worker_reports(executor, tmp_path) -> None:  # noqa: ANN001
    """The listener each task process runs (scheduler_wake.py) wakes the wait: the scheduler can
    start the downstream tasks from the recorded state while the task's supervisor winds down."""
    key = _hand_out(executor, "ingest.events")
    waker = multiprocessing.Process(target=_wake_after, args=(str(tmp_path), 1.0))
    waker.start()
    started = time.monotonic()
    executor.sync()
    took = time.monotonic() - started
    waker.join(30)
    assert waker.exitcode == 0, "nothing was listening at the scheduler's address"
    assert 0.9 <= took < WAIT_S, f"sync returned after {took:.2f} s"
    assert key in executor.outstanding  # its worker has not reported yet: still counted as out


def test_the_plugin_registers_the_wake_listener() -> None:
    from ecomflow_airflow import scheduler_wake
    from ecomflow_airflow.plugin import EcomflowPlugin

    assert scheduler_wake in EcomflowPlugin.listeners
    assert scheduler_wake.wake_scheduler("/nonexistent/airflow/home") is False  # nobody listens: ignored


def test_heartbeat_never_waits_with_nothing_out_or_a_task_still_to_hand_out(executor) -> None:  # noqa: ANN001
    started = time.monotonic()
    executor.sync()  # nothing out: the scheduler's own idle sleep applies
    _hand_out(executor, "a")
    executor.queued_tasks[_key("b")] = Workload(_key("b"))  # the next heartbeat must hand it out
    executor.sync()
    took = time.monotonic() - started
    assert took < WAIT_S / 2, f"sync waited {took:.1f} s with nothing to wait for"


def test_the_local_stack_runs_this_executor_unless_told_otherwise(tmp_path) -> None:  # noqa: ANN001
    from tasks.orchestration.local_airflow import LOCAL_EXECUTOR, LocalAirflow

    local = LocalAirflow(tmp_path / "airflow")
    assert local.service_env({})["AIRFLOW__CORE__EXECUTOR"] == LOCAL_EXECUTOR == "ecomflow_airflow.executor.LocalExecutor"
    assert local.service_env({"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"})["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
