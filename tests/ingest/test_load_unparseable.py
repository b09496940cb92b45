"""A row whose timestamp cannot be parsed belongs to no partition: it is quarantined under
dt=NULL with its file, row and reason, and the load log still reconciles."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tasks.ingest.load import ingest
from tasks.partitions import Partition
from tasks.warehouse import read_frame
from tests.ingest.test_mapping_source import GOOD, _write_mapping


def test_unparseable_rows_are_quarantined_once_and_reconciled(isolated_home: Path, tmp_path: Path) -> None:
    spec = str(_write_mapping(tmp_path, GOOD))
    for _ in range(2):  # a re-run replaces, never duplicates
        results = ingest(Partition(date(2024, 3, 1)), "run-1", source_spec=spec, entities=["events"])
    assert [(r.partition, r.rows_in, r.rows_accepted, r.rows_quarantined) for r in results] == [
        ("2024-03-01", 2, 2, 0), ("unpartitioned", 1, 0, 1)]
    quarantined = read_frame("SELECT source_file, source_row, reason FROM audit.quarantine WHERE dt IS NULL")
    assert len(quarantined) == 1
    assert quarantined["source_row"].iloc[0] == 3
    assert quarantined["source_file"].iloc[0].endswith("events.csv")
    assert "not a date" in quarantined["reason"].iloc[0]
    log = read_frame("SELECT rows_in, rows_accepted, rows_quarantined FROM audit.load_log")
    assert (log["rows_in"] == log["rows_accepted"] + log["rows_quarantined"]).all()
    assert read_frame("SELECT COUNT(*) AS n FROM raw.events")["n"].iloc[0] == 2
