"""Airflow's LocalExecutor, with a heartbeat that waits for a running task's result instead of
letting the scheduler spin.

Why: the scheduler runs its loop again after ``scheduler_idle_sleep_time`` when a loop found
nothing to do, and every loop re-reads every task instance of every running DAG run (the daily
DAG has ~75; executor_config is unpickled for each). The local stack sets that sleep to 0.2 s so
that a short task's downstream starts soon after it ends, which made the scheduler the busiest
process of a DAG run: 34 of 187 CPU-seconds of one scenario run, py-spy: 87 % of it in
``_do_scheduling`` (benchmarks/cpu_by_process.py, 2 cores). Almost every one of those loops
finds nothing: while tasks run, what can change the schedule is a task ending, and a
LocalExecutor worker reports that on its result queue.

So, while workloads handed to this executor's workers have not ended and none waits to be handed
out, the heartbeat waits on the result queue (up to ``result_wait_s``) instead of returning at
once: the loop wakes the moment a task's end is recorded (``scheduler_wake.py``: a listener in
each task process) or a worker reports it, and runs about once a second otherwise. Runs created by the API or by assets,
and the scheduler's timers, are seen at most ``result_wait_s`` later. With no task out, nothing
changes: the scheduler's own idle sleep applies. (A worker killed before it reports leaves its
workload counted: the loop then runs once a second, as slow as that gets.)

The class keeps the name ``LocalExecutor``: Airflow recognises local executors by class name
(the simple auth manager's production check), and it is Airflow's executor in every other way.
Set ``AIRFLOW__CORE__EXECUTOR=LocalExecutor`` for Airflow's own (the benchmark's baseline).
"""

from __future__ import annotations

import multiprocessing.connection
from typing import Any

from airflow.configuration import conf
from airflow.executors.local_executor import LocalExecutor as AirflowLocalExecutor

from ecomflow_airflow.scheduler_wake import bind_wake_socket, drain

#: Longest wait of one heartbeat for a result while tasks run (seconds;
#: ``AIRFLOW__ECOMFLOW__EXECUTOR_RESULT_WAIT_S``, 0 = never wait). Bounds how late the scheduler
#: sees what a running task cannot report (a new run, a timer): under the 2 s scheduler heartbeat
#: the local stack sets, so the scheduler's own job heartbeat is not late either.
DEFAULT_RESULT_WAIT_S = 1.0


class LocalExecutor(AirflowLocalExecutor):
    """LocalExecutor whose ``sync`` blocks until a worker reports, while workloads are out."""

    result_wait_s: float = conf.getfloat("ecomflow", "executor_result_wait_s", fallback=DEFAULT_RESULT_WAIT_S)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Workloads handed to the workers whose end has not been reported: key -> the workload's
        # running_state (a state that does not end it). Airflow's LocalExecutor never fills
        # BaseExecutor.running (Airflow 3.3: nothing adds to it), so it is counted here.
        self.outstanding: dict[Any, Any] = {}
        self.wake_socket = None

    def start(self) -> None:
        super().start()  # forks the workers first (one respawned later inherits the fd; harmless)
        # Each task's end, as soon as it is recorded (scheduler_wake.py: a listener of every task).
        self.wake_socket = bind_wake_socket()

    def end(self) -> None:
        super().end()
        if self.wake_socket is not None:
            self.wake_socket.close()
            self.wake_socket = None

    def _process_workloads(self, workload_list: list[Any]) -> None:
        for workload in workload_list:
            self.outstanding[workload.key] = workload.running_state
        super()._process_workloads(workload_list)

    def change_state(self, key: Any, state: Any, info: Any = None, remove_running: bool = True) -> None:
        if key in self.outstanding and state != self.outstanding[key]:
            del self.outstanding[key]
        super().change_state(key, state, info, remove_running)

    def sync(self) -> None:
        """Wait for a result when only a result can change the schedule, then read the results."""
        if self.outstanding and not self.queued_tasks and self.result_wait_s > 0:
            self._wait_for_result(self.result_wait_s)
        super().sync()

    def _wait_for_result(self, timeout_s: float) -> bool:
        """True once a worker reported or a task's end was recorded (False after ``timeout_s``)."""
        reader = getattr(self.result_queue, "_reader", None)  # multiprocessing.SimpleQueue's pipe end
        if reader is None:  # another queue type: behave as Airflow's executor does
            return not self.result_queue.empty()
        ready = multiprocessing.connection.wait(
            [reader] if self.wake_socket is None else [reader, self.wake_socket], timeout_s)
        if self.wake_socket is not None and self.wake_socket in ready:
            drain(self.wake_socket)
        return bool(ready)
