"""The bulk historical load (``tasks/ingest/load_days.py``) keeps every per-partition rule of a
day-by-day load: duplicate keys count within a day only, the window is each row's own day, the
quarantine limit is judged per day (a bad day is withheld and named, the others load), and the
tables equal those of one ``ingest`` per day."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest.load import QuarantineThresholdExceeded, ingest
from tasks.ingest.load_days import ingest_days
from tasks.partitions import Partition
from tasks.warehouse import dispose_engine, read_frame, replace_partitions

# Clicks over three days: e1 appears on day 1 and again on day 2 (one per day: not a duplicate
# of a partition), e3 twice on day 2 (a duplicate), and day 3 is mostly unknown event types.
CLICKS = """\
event_id,user,item,kind,ts
e1,u1,p1,pv,2024-03-01 10:00:00
e2,u1,p2,buy,2024-03-01 11:30:00
e1,u2,p1,pv,2024-03-02 09:00:00
e3,u2,p3,pv,2024-03-02 09:05:00
e3,u2,p3,pv,2024-03-02 09:06:00
e4,u3,p1,zoom,2024-03-03 08:00:00
e5,u3,p2,zoom,2024-03-03 08:01:00
e6,u3,p2,pv,2024-03-03 08:02:00
"""
MAPPING = """\
source_name: clicks
quarantine_max_share: 0.5
files:
  - path: clicks.csv
    entity: events
    timestamp: {column: ts, format: "%Y-%m-%d %H:%M:%S"}
    columns: {event_id: event_id, user_id: user, product_id: item, event_type: kind}
    event_type_map: {view: [pv], purchase: [buy]}
"""
FIRST, UNTIL = date(2024, 3, 1), date(2024, 3, 4)


def _mapping(tmp_path: Path) -> str:
    (tmp_path / "clicks.csv").write_text(CLICKS)
    path = tmp_path / "clicks.yml"
    path.write_text(textwrap.dedent(MAPPING))
    return str(path)


def _tables() -> dict[str, pd.DataFrame]:
    return {
        "events": read_frame("SELECT event_id, user_id, event_type, dt, hr FROM raw.events "
                             "ORDER BY dt, hr, event_id, user_id"),
        "log": read_frame("SELECT entity, dt, rows_in, rows_accepted, rows_quarantined, status "
                          "FROM audit.load_log ORDER BY entity, dt"),
        "quarantine": read_frame("SELECT entity, dt, hr, source_line, reason FROM audit.quarantine "
                                 "ORDER BY entity, dt, source_line"),
    }


def test_bulk_load_keeps_per_day_rules_and_withholds_only_the_bad_day(isolated_home: Path, tmp_path: Path) -> None:
    mapping = _mapping(tmp_path)
    with pytest.raises(QuarantineThresholdExceeded, match=r"partition 2024-03-03: .*events: 2/3 rows"):
        ingest_days(FIRST, UNTIL, "bulk", source_spec=mapping)
    tables = _tables()
    events = tables["events"]
    assert sorted(events["event_id"]) == ["e1", "e1", "e2", "e3"]  # e1 once per day; e3's copy held
    assert set(events["dt"].astype(str)) == {"2024-03-01", "2024-03-02"}  # day 3 withheld
    held = tables["quarantine"][tables["quarantine"]["entity"] == "events"]
    assert list(held["source_line"]) == [6, 7, 8]
    assert "duplicate key (event_id) = ('e3'): first seen on line 5" in held["reason"].iloc[0]
    assert (held["hr"].tolist(), str(held["dt"].iloc[1])) == ([9, 8, 8], "2024-03-03")
    log = tables["log"][tables["log"]["entity"] == "events"]
    assert list(log["rows_in"]) == [2, 3, 3]
    assert (log["rows_in"] == log["rows_accepted"] + log["rows_quarantined"]).all()
    assert list(log["status"]) == ["loaded", "loaded", "rejected_threshold"]
    lake = isolated_home / "lake" / "raw" / "events"
    assert sorted(p.parent.parent.name for p in lake.glob("dt=*/hr=*/part-0.parquet")) == \
        ["dt=2024-03-01", "dt=2024-03-01", "dt=2024-03-02"]


def test_bulk_load_equals_one_ingest_per_day(isolated_home: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = _mapping(tmp_path)
    for day in (FIRST, FIRST + timedelta(days=1)):
        ingest(Partition(day), "run", source_spec=mapping)
    per_day = _tables()
    dispose_engine()
    monkeypatch.setenv("ECOMFLOW_HOME", str(tmp_path / "bulk_home"))
    from tasks import settings

    settings.reset()
    ingest_days(FIRST, FIRST + timedelta(days=2), "run", source_spec=mapping)
    bulk = _tables()
    for name, frame in per_day.items():
        pd.testing.assert_frame_equal(frame, bulk[name], check_dtype=False, obj=name)


def test_replace_partitions_replaces_exactly_the_listed_partitions(any_warehouse: str) -> None:
    rows = pd.DataFrame({"k": ["a", "a", "b"], "dt": [date(2024, 1, d) for d in (1, 2, 1)], "v": [1, 2, 3]})
    replace_partitions("scratch.many", rows, {}, "dt", [date(2024, 1, 1), date(2024, 1, 2)])
    new = pd.DataFrame({"k": ["a"], "dt": [date(2024, 1, 2)], "v": [20]})
    replace_partitions("scratch.many", new, {"k": "a"}, "dt", [date(2024, 1, 2), date(2024, 1, 3)])
    got = read_frame("SELECT k, dt, v FROM scratch.many ORDER BY k, dt")
    assert list(zip(got["k"], got["dt"].astype(str), got["v"], strict=True)) == \
        [("a", "2024-01-01", 1), ("a", "2024-01-02", 20), ("b", "2024-01-01", 3)]
    with pytest.raises(ValueError, match="rows outside the partitions being replaced"):
        replace_partitions("scratch.many", new, {"k": "b"}, "dt", [date(2024, 1, 2)])
