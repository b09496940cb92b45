"""A writer killed (SIGKILL) in the middle of a write leaves the previous good partition.

A child process starts a real write, signals from *inside* the open transaction (after its
DELETE and INSERT ran, before COMMIT) and is then killed by the test. The previous version of
the partition must still be readable and complete, and the retry must succeed. This is how an
Airflow worker dies when a task hits its execution timeout or the node is lost.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tasks.warehouse import dispose_engine, read_frame, replace_partition

REPO = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 1)

# Runs in the child: wrap the real insert so that, once a chosen table's rows are inserted
# (still uncommitted), the child announces it and waits to be killed.
_CHILD_PRELUDE = """
import sys, time
import tasks.warehouse.io as io
marker, hang_table = sys.argv[1], sys.argv[2]
real_insert = io._insert
def insert_then_hang(conn, table, frame):
    real_insert(conn, table, frame)
    if table == hang_table:
        open(marker, "w").close()
        time.sleep(120)
io._insert = insert_then_hang
"""

_WRITE_PARTITION = _CHILD_PRELUDE + """
import datetime as dt
import pandas as pd
from tasks.warehouse import replace_partition
day = dt.date(2026, 3, 1)
replace_partition("raw.things", pd.DataFrame({"id": range(100, 150), "dt": [day] * 50}), {"dt": day})
"""

_INGEST = _CHILD_PRELUDE + """
from tasks.ingest.load import ingest
from tasks.partitions import Partition
ingest(Partition.parse(sys.argv[3]), "run-killed", source_spec=sys.argv[4])
"""


def _kill_inside_write(script: str, args: list[str], tmp_path: Path) -> None:
    """Start ``script`` in a child, wait until it is inside the write, SIGKILL it."""
    dispose_engine()  # DuckDB: let the child take the file's write lock
    marker = tmp_path / "inside-write"
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    child = subprocess.Popen([sys.executable, "-c", script, str(marker), *args], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None:
            pytest.fail(f"child exited before reaching the write:\n{child.stdout.read()[-3000:]}")
        assert time.monotonic() < deadline, "child never reached the write"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_killed_partition_write_keeps_previous_partition(any_warehouse: str, tmp_path: Path) -> None:
    good = pd.DataFrame({"id": range(10), "dt": [DAY] * 10})
    replace_partition("raw.things", good, {"dt": DAY})

    _kill_inside_write(_WRITE_PARTITION, ["raw.things"], tmp_path)

    after_kill = read_frame("SELECT id FROM raw.things ORDER BY id")
    assert after_kill["id"].tolist() == list(range(10))
    # The retry (here: the same write without the kill) succeeds and replaces the partition.
    retry = pd.DataFrame({"id": range(100, 150), "dt": [DAY] * 50})
    replace_partition("raw.things", retry, {"dt": DAY})
    assert read_frame("SELECT id FROM raw.things ORDER BY id")["id"].tolist() == list(range(100, 150))


def _write_source(folder: Path, n_events: int, n_lines: int) -> Path:
    """A two-entity mapping source for one day (events, then order lines)."""
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({
        "id": [f"e{i}" for i in range(n_events)], "session": [f"s{i % 5}" for i in range(n_events)],
        "user": [f"u{i % 7}" for i in range(n_events)], "type": ["view"] * n_events,
        "item": [f"p{i % 11}" for i in range(n_events)],
        "at": [f"{DAY} {i % 24:02d}:{i % 60:02d}:00" for i in range(n_events)],
    }).to_csv(folder / "events.csv", index=False)
    pd.DataFrame({
        "order": [f"o{i}" for i in range(n_lines)], "user": [f"u{i % 7}" for i in range(n_lines)],
        "item": [f"p{i % 11}" for i in range(n_lines)], "qty": [1 + i % 3 for i in range(n_lines)],
        "price": [2.5 + i for i in range(n_lines)],
        "at": [f"{DAY} {i % 24:02d}:30:00" for i in range(n_lines)],
    }).to_csv(folder / "lines.csv", index=False)
    mapping = folder / "shop.yml"
    mapping.write_text(f"""
source_name: killtest
files:
  - path: {folder / 'events.csv'}
    format: csv
    entity: events
    timestamp: {{column: at, format: iso8601}}
    columns: {{event_id: id, session_id: session, user_id: user, event_type: type, product_id: item}}
  - path: {folder / 'lines.csv'}
    format: csv
    entity: order_lines
    timestamp: {{column: at, format: iso8601}}
    columns:
      order_id: order
      line_number: {{row_number: true, within: [order]}}
      user_id: user
      product_id: item
      quantity: qty
      unit_price: price
""")
    return mapping


def _lake_rows(entity: str) -> int:
    """Rows of the day in the lake's raw zone (what Spark reads); hidden staged files excluded."""
    import pyarrow.parquet as pq

    from tasks import lake

    folder = lake.dataset_root("raw", entity) / f"dt={DAY}"
    return sum(pq.read_metadata(f).num_rows for f in folder.rglob("part-0.parquet"))


def _raw_state() -> dict[str, pd.DataFrame]:
    return {
        "lake": pd.DataFrame({"events": [_lake_rows("events")], "order_lines": [_lake_rows("order_lines")]}),
        "events": read_frame("SELECT event_id FROM raw.events ORDER BY event_id"),
        "order_lines": read_frame("SELECT order_id FROM raw.order_lines ORDER BY order_id"),
        "load_log": read_frame("SELECT entity, rows_in, rows_accepted, rows_quarantined, run_id "
                               "FROM audit.load_log ORDER BY entity"),
    }


def test_killed_ingest_keeps_previous_partition_and_retry_succeeds(any_warehouse: str, tmp_path: Path) -> None:
    """All entities of a partition are one transaction: killed while writing order lines, the
    already-written new events are rolled back too, the audit log still shows the good load,
    and the lake (staged, published only after the commit) still holds the good files."""
    from tasks.ingest.load import ingest
    from tasks.partitions import Partition

    partition = Partition.parse(str(DAY))
    mapping = _write_source(tmp_path / "v1", n_events=30, n_lines=12)
    ingest(partition, "run-good", source_spec=str(mapping))
    before = _raw_state()
    assert len(before["events"]) == 30 and len(before["order_lines"]) == 12
    assert before["lake"].iloc[0].to_dict() == {"events": 30, "order_lines": 12}

    # A late delivery for the same day arrives; the re-run is killed mid-write.
    mapping = _write_source(tmp_path / "v1", n_events=45, n_lines=20)
    _kill_inside_write(_INGEST, ["raw.order_lines", str(DAY), str(mapping)], tmp_path)
    after_kill = _raw_state()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after_kill[name], frame, obj=name)

    results = ingest(partition, "run-retry", source_spec=str(mapping))
    accepted = {r.entity: r.rows_accepted for r in results}
    # users/products: derived from the events and lines (the source has no files for them)
    assert {e: accepted[e] for e in ("events", "order_lines")} == {"events": 45, "order_lines": 20}
    assert set(accepted) <= {"events", "order_lines", "users", "products"}
    final = _raw_state()
    assert len(final["events"]) == 45 and len(final["order_lines"]) == 20
    assert final["lake"].iloc[0].to_dict() == {"events": 45, "order_lines": 20}
    assert set(final["load_log"]["run_id"]) == {"run-retry"}
    assert (final["load_log"]["rows_in"] == final["load_log"]["rows_accepted"]
            + final["load_log"]["rows_quarantined"]).all()
