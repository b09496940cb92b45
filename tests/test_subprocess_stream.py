"""Subprocess output reaches the task log as it happens, and on_kill stops the whole tree."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

from tasks.subprocess_stream import stream_command, terminate_running


def test_lines_are_logged_while_the_child_still_runs(tmp_path: Path, caplog) -> None:
    marker = tmp_path / "go"
    # The child prints one line, then waits for the test to create `marker`: the test only does
    # so after it saw the first line in the log, i.e. before the child exited.
    script = (f"import time, pathlib; print('first', flush=True)\n"
              f"while not pathlib.Path({str(marker)!r}).exists(): time.sleep(0.05)\n"
              "print('second', flush=True)")
    logger = logging.getLogger("test.stream")

    def release() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any("child | first" in r.getMessage() for r in caplog.records):
                marker.write_text("ok")
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=release)
    with caplog.at_level(logging.INFO, logger="test.stream"):
        watcher.start()
        result = stream_command([sys.executable, "-c", script], logger=logger, prefix="child",
                                log_file=tmp_path / "full.log", timeout_s=60)
        watcher.join()
    assert result.returncode == 0 and not result.timed_out
    assert marker.exists(), "the first line was not in the log before the child finished"
    assert [r.getMessage() for r in caplog.records if r.name == "test.stream"] == ["child | first", "child | second"]
    assert (tmp_path / "full.log").read_text() == "first\nsecond\n"


def test_timeout_kills_the_child_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(300)")
    result = stream_command([sys.executable, "-c", script], logger=logging.getLogger("t"), prefix="c",
                            timeout_s=3)
    assert result.timed_out and result.returncode != 0
    _assert_gone(int(pid_file.read_text()))


def test_terminate_running_stops_a_running_tree(tmp_path: Path) -> None:
    """What the operators' on_kill calls while their dbt/spark child runs."""
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('started', flush=True); time.sleep(300)")
    results = []
    runner = threading.Thread(target=lambda: results.append(
        stream_command([sys.executable, "-c", script], logger=logging.getLogger("t"), prefix="c")))
    runner.start()
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert terminate_running(grace_s=5) == 1
    runner.join(timeout=30)
    assert results and results[0].returncode != 0
    _assert_gone(int(pid_file.read_text()))
    assert terminate_running() == 0


def _assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # a killed grandchild is re-parented and may linger as a zombie until reaped
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} still runs")
