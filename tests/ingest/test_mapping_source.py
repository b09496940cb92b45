"""Mapping-file sources: the two shipped mappings on real data, a custom file, and bad mappings."""

from __future__ import annotations

import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest.sources import SOURCE_FILE, SOURCE_ROW, MappingError, get_source
from tasks.ingest.sources.mapping import MappingSource
from tasks.settings import REPO_ROOT
from tests.conftest import ONLINE_RETAIL_CSV, ONLINE_SHOPPERS_CSV

MAPPINGS = REPO_ROOT / "tasks" / "ingest" / "mappings"


def _everything(source: MappingSource, entity: str) -> pd.DataFrame:
    first, last = source.coverage()
    return source.read(entity, first, last + timedelta(seconds=1))


def test_online_shoppers_mapping_gives_sessions(isolated_home: Path, shared_data: Path) -> None:
    source = get_source(str(MAPPINGS / "online_shoppers_intention.yml"))
    assert source.entities() == ["sessions"]
    raw = pd.read_csv(ONLINE_SHOPPERS_CSV, sep=";")
    sessions = _everything(source, "sessions")
    assert len(sessions) == len(raw)
    assert source.unparseable("sessions").empty
    assert sessions["session_id"].is_unique
    assert sessions["session_id"].str.startswith("osi-").all()
    assert sessions["has_purchase"].sum() == raw["Revenue"].sum() == 1908
    assert set(sessions["is_weekend"]) == {True, False}
    assert set(sessions["started_at"].dt.year) == {2017}
    assert (sessions["started_at"].dt.day == 1).all()
    june = sessions["_source_row"].isin(raw.index[raw["Month"] == "June"] + 1)
    assert (sessions.loc[june, "started_at"] == pd.Timestamp("2017-06-01")).all()
    assert june.any()
    row = sessions.set_index(SOURCE_ROW).loc[2]  # second data row: 2 product pages, 64 s
    assert row["n_events"] == 2
    assert row["duration_seconds"] == 64
    assert row["device"] == "os2-browser2"
    assert Path(row[SOURCE_FILE]).resolve() == ONLINE_SHOPPERS_CSV.resolve()
    feb = source.read("sessions", datetime(2017, 2, 1), datetime(2017, 2, 2))
    assert len(feb) == (raw["Month"] == "Feb").sum()


def test_online_retail_mapping_gives_order_lines(isolated_home: Path, shared_data: Path) -> None:
    source = get_source(str(MAPPINGS / "online_retail.yml"))
    raw = pd.read_csv(ONLINE_RETAIL_CSV, dtype=str, keep_default_na=False)
    lines = _everything(source, "order_lines")
    assert sorted(lines[SOURCE_ROW]) == list(range(1, len(raw) + 1))
    assert lines["is_cancellation"].sum() == raw["InvoiceNo"].str.startswith("C").sum()
    assert not lines.duplicated(["order_id", "line_number"]).any()
    first = lines.set_index(SOURCE_ROW).loc[1]
    assert first["user_id"] == "17850"
    assert first["currency"] == "GBP"
    assert first["line_number"] == 1


def test_shipped_mapping_paths_follow_env(isolated_home: Path, monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setenv("ECOMFLOW_SHARED_DATA", str(tmp_path))
    with pytest.raises(MappingError, match=r"files\[0\]\.path: data file not found: " + str(tmp_path)):
        get_source(str(MAPPINGS / "online_shoppers_intention.yml"))


# ---- a custom mapping ------------------------------------------------------------
EVENTS_CSV = """\
ts|visitor|kind|item|cost|sess
2024-03-01 10:00:00|17.0|pv|A1|9.5|s1
2024-03-01 10:05:00|17.0|atc|A1|9.5|s1
not a date|18|pv|B2|3|s2
2024-03-02 09:00:00||purchase|B2|3|s3
2024-03-02 09:30:00|19|zoom|B2|3|s4
"""


def _write_mapping(tmp_path: Path, body: str, data: str = EVENTS_CSV, name: str = "events.csv") -> Path:
    (tmp_path / name).write_text(data)
    mapping = tmp_path / "mine.yml"
    mapping.write_text(textwrap.dedent(body))
    return mapping


GOOD = """\
source_name: my_shop
files:
  - path: events.csv
    csv: {delimiter: "|"}
    entity: events
    timestamp: {column: ts, format: "%Y-%m-%d %H:%M:%S"}
    columns:
      event_id: {row_number: true, prefix: "e"}
      session_id: sess
      user_id: visitor
      event_type: kind
      product_id: item
      price: cost
    event_type_map: {pv: view, atc: cart}
    id_columns: [user_id]
"""


def test_custom_csv_mapping_maps_values_and_reports_bad_times(isolated_home: Path, tmp_path: Path) -> None:
    source = get_source(str(_write_mapping(tmp_path, GOOD)))
    events = _everything(source, "events").set_index(SOURCE_ROW)
    assert list(events.index) == [1, 2, 4, 5]
    assert list(events["event_type"]) == ["view", "cart", "purchase", "zoom"]  # unmapped: the loader rejects
    assert events.loc[1, "user_id"] == "17"
    assert events.loc[4, "user_id"] is None
    assert events.loc[2, "event_id"] == "e2"
    assert events["query"].isna().all()
    bad = source.unparseable("events")
    assert list(bad[SOURCE_ROW]) == [3]
    assert bad[SOURCE_FILE].iloc[0] == str(tmp_path / "events.csv")
    assert "ts='not a date'" in bad["_reason"].iloc[0]
    assert "%Y-%m-%d %H:%M:%S" in bad["_reason"].iloc[0]
    window = source.read("events", datetime(2024, 3, 1), datetime(2024, 3, 2))
    assert list(window["event_id"]) == ["e1", "e2"]


def test_parquet_file_with_epoch_times(isolated_home: Path, tmp_path: Path) -> None:
    pd.DataFrame({"sku": ["x", "y"], "store": ["s1", "s1"], "n": [3.0, 4.0], "t": [1704067200, 1704153600]}
                 ).to_parquet(tmp_path / "sales.parquet")
    mapping = tmp_path / "sales.yml"
    mapping.write_text(textwrap.dedent("""\
        source_name: sales
        files:
          - path: sales.parquet
            entity: daily_sales
            timestamp: {column: t, format: epoch_s}
            columns: {product_id: sku, store_id: store, units: n, is_promo: {constant: false}}
        """))
    sales = _everything(get_source(str(mapping)), "daily_sales")
    assert list(sales["sales_date"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert list(sales["units"]) == [3.0, 4.0]
    assert not sales["is_promo"].any()


# ---- bad mappings: each message names the mapping file, the key and what is wrong ------------
@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("entity: events", "entity: evnts", ["files[0].entity", "unknown entity 'evnts'", "order_lines"]),
        ("      price: cost", "      colour: cost",
         ["files[0].columns.colour", "unknown canonical column 'colour'", "'price'"]),
        ("      price: cost", "      price: costs",
         ["files[0].columns.price", "source column 'costs' not found in data file", "events.csv",
          "available columns: ['ts', 'visitor', 'kind', 'item', 'cost', 'sess']"]),
        ('csv: {delimiter: "|"}', 'csv: {delimeter: "|"}', ["files[0].csv", "unknown key(s) ['delimeter']"]),
        ("      event_type: kind\n", "", ["files[0].columns", "required column(s) ['event_type']"]),
        ("{pv: view, atc: cart}", "{pv: view, atc: basket}",
         ["files[0].event_type_map.atc", "'basket' is not an event type"]),
        ('format: "%Y-%m-%d %H:%M:%S"', "format: month_name", ["files[0].timestamp.default_year"]),
        ("path: events.csv", "path: ${NO_SUCH_ECOMFLOW_VAR}/events.csv",
         ["files[0].path", "${NO_SUCH_ECOMFLOW_VAR} is not set"]),
        ("path: events.csv", "path: elsewhere.csv", ["files[0].path", "data file not found", "elsewhere.csv"]),
        ("      event_id:", "      event_at: ts\n      event_id:",
         ["files[0].columns.event_at", "time column", "'timestamp'"]),
        ("source_name: my_shop", "source_name: my_shop\nsource: x", ["top level", "unknown key(s) ['source']"]),
        ("      user_id: visitor", "      user_id: {column: visitor, constant: 1}",
         ["files[0].columns.user_id", "exactly one of"]),
        ("entity: events", "entity: event", ["files[0].entity", "unknown entity 'event' (did you mean 'events'?)"]),
        ('csv: {delimiter: "|"}', 'csv: {delimiter: "|", encoding: utf-9}',
         ["files[0].csv.encoding", "unknown encoding 'utf-9'"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    partition: 10/03/2024",
         ["files[0].partition", "expected a day YYYY-MM-DD, got '10/03/2024'"]),
    ],
)
def test_bad_mapping_messages(isolated_home: Path, tmp_path: Path, old: str, new: str,
                              expected: list[str]) -> None:
    assert old in GOOD
    mapping = _write_mapping(tmp_path, GOOD.replace(old, new))
    with pytest.raises(MappingError) as err:
        get_source(str(mapping))
    message = str(err.value)
    assert message.startswith(f"{mapping}: ")
    for fragment in expected:
        assert fragment in message, message


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    mapping = _write_mapping(tmp_path, "source_name: [unclosed\n")
    with pytest.raises(MappingError, match=f"{mapping}: not valid YAML"):
        get_source(str(mapping))


def test_headerless_csv_with_names_booleans_and_templates(isolated_home: Path, tmp_path: Path) -> None:
    data = "x1;2024-05-03;True;3;4\nx2;2024-05-04;no;a;4\n"
    mapping = _write_mapping(tmp_path, """\
        source_name: agg
        files:
          - path: sessions.txt
            format: csv
            csv: {delimiter: ";", header: false, names: [sid, day, bought, a, b]}
            entity: sessions
            timestamp: {column: day, format: "%Y-%m-%d", timezone: Europe/Berlin}
            columns:
              session_id: {template: "s-{sid}"}
              has_purchase: bought
              n_events: {sum: [a, b]}
            boolean_map: {"true": true, "no": false}
        """, data=data, name="sessions.txt")
    sessions = _everything(get_source(str(mapping)), "sessions").set_index(SOURCE_ROW)
    assert list(sessions["session_id"]) == ["s-x1", "s-x2"]
    assert list(sessions["has_purchase"]) == [True, False]
    # A non-numeric part keeps the raw text (the column becomes text) so the loader can reject it.
    assert list(sessions["n_events"]) == ["7.0", "a+4"]
    assert sessions.loc[1, "started_at"] == pd.Timestamp("2024-05-02 22:00")  # Berlin midnight in UTC
