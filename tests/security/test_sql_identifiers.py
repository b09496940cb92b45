"""SQL built from user input cannot run that input: names are validated and quoted, values are bound.

Mapping files, DAG params and source data are written by people outside the
code review. Every identifier built from them goes through
``tasks.warehouse.identifiers`` (strict pattern, then quoted) and every value
travels as a bound parameter or through COPY/registered frames. Each test
points a hostile string at a real DuckDB and PostgreSQL warehouse and checks
that it is rejected with a clear error or stored as plain text - and that
``raw.events`` still exists afterwards.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from tasks.ingest.load import ensure_raw_tables, ingest
from tasks.ingest.sources import MappingError
from tasks.ingest.sources.mapping import MappingSource
from tasks.partitions import Partition
from tasks.warehouse import connect, qualified, quote_ident, read_frame, replace_partition, table_exists
from tasks.warehouse.io import table_columns

DROP = 'x"; DROP TABLE raw.events; --'
HOSTILE_NAMES = [
    DROP,
    "events; DROP TABLE raw.events",
    "events' OR '1'='1",
    'a"b',
    "a b",
    "1events",
    "",
    "e" * 64,
    "évents",
    "events--",
    "raw.events",
]
HOSTILE_VALUES = [
    "'); DROP TABLE raw.events; --",
    'x" OR "1"="1',
    "a'b''c",
    "line1\nline2,with comma",
    "$$; DROP TABLE raw.events; $$",
    ":p0",
    "%s %(x)s",
]
SENTINEL_DT = date(2024, 1, 1)


def _events_rows() -> int:
    """Rows of raw.events; fails (not 0) when the table was dropped."""
    with connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM raw.events")).scalar_one()


@pytest.fixture
def raw_events(any_warehouse: str) -> str:
    """The canonical raw tables, with one sentinel row in raw.events that must survive every test."""
    ensure_raw_tables()
    with connect() as conn:
        conn.execute(sa.text(
            "INSERT INTO raw.events (event_id, session_id, event_type, product_id, event_at, dt, _source) "
            "VALUES (:e, :s, 'view', 'P1', :t, :dt, 'sentinel')"),
            {"e": "E-sentinel", "s": "S-sentinel", "t": datetime(2024, 1, 1, 12), "dt": SENTINEL_DT})
    assert _events_rows() == 1
    return any_warehouse


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_quote_ident_rejects_hostile_names_with_a_clear_error(name: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        quote_ident(name)


@pytest.mark.parametrize("table", ["raw.events; DROP TABLE raw.events", 'raw."events"', "events", "a.b.c",
                                   f"raw.{DROP}"])
def test_qualified_rejects_hostile_table_names(table: str) -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier|schema-qualified"):
        qualified(table)


def test_plain_names_are_quoted() -> None:
    assert quote_ident("fct_events") == '"fct_events"'
    assert qualified("marts.fct_events") == '"marts"."fct_events"'


def test_hostile_names_never_reach_the_warehouse(raw_events: str) -> None:
    day = date(2024, 3, 1)
    frame = pd.DataFrame({"dt": [day], "v": ["x"]})
    for name in HOSTILE_NAMES:
        with pytest.raises(ValueError):  # message: see test_a_dotted_table_name_gets_a_clear_error
            replace_partition(f"raw.{name}", frame, {"dt": day})
        with pytest.raises(ValueError):
            replace_partition(f"{name}.events", frame, {"dt": day})
        if name:
            with pytest.raises(ValueError, match="invalid SQL identifier"):  # a column named by the data
                replace_partition("raw.probe", frame.assign(**{name: [1]}), {"dt": day})
            with pytest.raises(ValueError, match="invalid SQL identifier"):  # a partition column
                replace_partition("raw.probe", frame.assign(**{name: [day]}), {name: day})
        with connect() as conn, pytest.raises(ValueError):  # catalogue look-ups validate the name too
            table_columns(conn, f"raw.{name}")
    assert _events_rows() == 1
    assert not table_exists("raw.probe")


def test_hostile_values_are_stored_as_text(raw_events: str) -> None:
    day = date(2024, 3, 1)
    frame = pd.DataFrame({"dt": [day] * len(HOSTILE_VALUES), "k": HOSTILE_VALUES, "n": range(len(HOSTILE_VALUES))})
    for _ in range(2):  # the re-run path deletes the partition with a bound WHERE
        replace_partition("raw.probe", frame, {"dt": day})
    back = read_frame("SELECT k FROM raw.probe ORDER BY n")
    assert back["k"].tolist() == HOSTILE_VALUES
    for value in HOSTILE_VALUES:  # and as filter values
        found = read_frame("SELECT count(*) AS c FROM raw.probe WHERE k = :k", {"k": value})
        assert found["c"].iloc[0] == 1, value
    replace_partition("raw.probe_keys", frame.assign(dt=DROP), {"dt": DROP})  # a hostile partition value
    stored = read_frame("SELECT count(*) AS c FROM raw.probe_keys WHERE dt = :d", {"d": DROP})["c"].iloc[0]
    assert stored == len(HOSTILE_VALUES)
    assert _events_rows() == 1


def _write_mapping(tmp_path: Path, columns: dict[str, object], source_name: str = "hostile_names",
                   entity: str = "events") -> Path:
    doc = {"source_name": source_name,
           "files": [{"path": "events.csv", "entity": entity, "columns": columns,
                      "timestamp": {"column": "when'); DROP TABLE raw.events; --",
                                    "format": "%Y-%m-%d %H:%M:%S"}}]}
    path = tmp_path / "mapping.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_mapping_file_with_hostile_headers_and_values_loads_them_as_data(raw_events: str, tmp_path: Path) -> None:
    """Source column names from a user's file are only ever pandas labels, never SQL."""
    headers = {"event_id": DROP, "session_id": "sess'); DELETE FROM raw.events; --",
               "event_type": "type\" OR 1=1 --", "product_id": "product id; TRUNCATE raw.events"}
    rows = pd.DataFrame({
        DROP: ["E1'); DROP TABLE raw.events; --", "E2"],
        headers["session_id"]: ["S1", 'S2" OR "1"="1'],
        headers["event_type"]: ["view", "view"],
        headers["product_id"]: ["P1", "P2"],
        "when'); DROP TABLE raw.events; --": ["2024-03-01 10:00:00", "2024-03-01 11:00:00"],
    })
    rows.to_csv(tmp_path / "events.csv", index=False)
    spec = _write_mapping(tmp_path, headers)
    results = ingest(Partition(date(2024, 3, 1)), "run-hostile", source_spec=str(spec), entities=["events"])
    assert [(r.rows_accepted, r.rows_quarantined) for r in results] == [(2, 0)]
    loaded = read_frame("SELECT event_id, session_id FROM raw.events WHERE dt = :d ORDER BY event_id",
                        {"d": date(2024, 3, 1)})
    assert loaded.to_dict("list") == {"event_id": ["E1'); DROP TABLE raw.events; --", "E2"],
                                      "session_id": ["S1", 'S2" OR "1"="1']}
    assert _events_rows() == 3  # the sentinel survived too


@pytest.mark.parametrize(("columns", "source_name", "entity", "message"), [
    ({DROP: "a", "event_id": "a", "session_id": "a", "event_type": "a"}, "ok", "events",
     "unknown canonical column"),
    ({"event_id": "a", "session_id": "a", "event_type": "a"}, DROP, "events", "may only contain"),
    ({"event_id": "a", "session_id": "a", "event_type": "a"}, "ok", "events; DROP TABLE raw.events",
     "unknown entity"),
])
def test_hostile_names_in_the_mapping_itself_are_rejected(tmp_path: Path, columns: dict[str, object],
                                                          source_name: str, entity: str, message: str) -> None:
    pd.DataFrame({"a": ["1"], "when'); DROP TABLE raw.events; --": ["2024-03-01 10:00:00"]}).to_csv(
        tmp_path / "events.csv", index=False)
    with pytest.raises(MappingError, match=message):
        MappingSource(_write_mapping(tmp_path, columns, source_name, entity))


def test_a_dotted_table_name_gets_a_clear_error(isolated_home: Path) -> None:
    day = date(2024, 3, 1)
    with pytest.raises(ValueError, match="invalid SQL identifier|schema-qualified"):
        replace_partition("raw.events; DROP TABLE raw.events", pd.DataFrame({"dt": [day]}), {"dt": day})


def test_a_trailing_newline_is_not_a_plain_identifier() -> None:
    with pytest.raises(ValueError, match="invalid SQL identifier"):
        quote_ident("events\n")


@pytest.mark.postgres
def test_a_value_equal_to_the_copy_null_marker_stays_text(postgres_home: str) -> None:
    day = date(2024, 3, 1)
    replace_partition("raw.probe", pd.DataFrame({"dt": [day], "k": ["\\N"]}), {"dt": day})
    assert read_frame("SELECT k FROM raw.probe")["k"].tolist() == ["\\N"]
