"""Mapping shapes beyond one-row-per-record files: wide per-day columns, a calendar, several
source values per event type, derived sessions, a per-mapping quarantine limit and extra
features - and that every mistake in them names the mapping file, the key and a hint."""

from __future__ import annotations

import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from tasks.ingest.load import ingest
from tasks.ingest.sources import MappingError, get_source
from tasks.partitions import Partition
from tasks.warehouse import read_frame
from tests.ingest.test_mapping_source import GOOD, _write_mapping

WIDE_CSV = """\
item_id,store_id,d_1,d_2,d_3,d_4
FOODS_1,CA_1,0,3,,1
HOBBIES_2,CA_1,2,0,0,5
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("      session_id: sess\n", "", None),  # derived by default: no error
        ("source_name: my_shop\n", "source_name: my_shop\nsessions: {derive: false}\n", None),
        ("{pv: view, atc: cart}", "{view: [pv, detail], purchase: [buy, order]}", None),
        ("{pv: view, atc: cart}", "{buy: [pv]}", ["files[0].event_type_map.buy", "'buy' is not an event type"]),
        ("{pv: view, atc: cart}", "{view: [pv], ignore: [zoom, atc]}", None),
        ("{pv: view, atc: cart}", "{pv: view, ignore: zoom}",
         ["files[0].event_type_map.ignore", "expected a list of source values"]),
        ("{pv: view, atc: cart}", "{view: [pv], ignore: [pv]}",
         ["files[0].event_type_map.ignore", "'pv' is mapped to both 'view' and 'ignore'"]),
        ("{pv: view, atc: cart}", "{view: [pv], cart: [pv]}",
         ["files[0].event_type_map.cart", "'pv' is mapped to both 'view' and 'cart'"]),
        ("{pv: view, atc: cart}", "{pv: veiw}", ["'veiw' is not an event type (did you mean 'view'?)"]),
        ("source_name: my_shop\n", "source_name: my_shop\nquarantine_max_share: 5\n",
         ["quarantine_max_share: expected a share between 0 and 1"]),
        ("source_name: my_shop\n", "source_name: my_shop\nsessions: {derive: true, inactivity_minute: 30}\n",
         ["sessions.inactivity_minute: unknown key(s)", "(did you mean 'inactivity_minutes'?)"]),
        ("source_name: my_shop\n", "source_name: my_shop\nsessions: {inactivity_minutes: 0}\n",
         ["sessions.inactivity_minutes: expected a positive number of minutes"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    features: {email: categorical}",
         ["files[0].features.email", "looks like personal data"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    features: {cost_band: {column: visitor, "
         "type: categorical}, customerPhone: numeric}", ["files[0].features.customerPhone", "personal data"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    features: {cost: numerc}",
         ["files[0].features.cost.type", "unknown feature type 'numerc' (did you mean 'numeric'?)"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    features: {discount: numeric}",
         ["files[0].features.discount", "source column 'discount' not found", "available columns"]),
        ("      price: cost\n", "      price: cost\n      extra_features: cost\n",
         ["files[0].columns.extra_features", "filled by the loader", "features:"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    wide: {columns: '^d_(\\d+)$', "
         "start_date: 2024-03-01}", ["files[0].wide.columns", "matches no column"]),
        ("    id_columns: [user_id]", "    id_columns: [user_id]\n    wide: {columns: '^d_(\\d+)$'}",
         ["files[0].wide.start_date", "captures the day number"]),
        ("source_name: my_shop\n", "source_name: my_shop\nusers: {derive: true}\nproducts: {derive: 1}\n",
         ["products.derive: expected true or false"]),
    ],
)
def test_new_mapping_keys_and_their_messages(isolated_home: Path, tmp_path: Path, old: str, new: str,
                                             expected: list[str] | None) -> None:
    assert old in GOOD
    mapping = _write_mapping(tmp_path, GOOD.replace(old, new))
    if expected is None:
        get_source(str(mapping))
        return
    with pytest.raises(MappingError) as err:
        get_source(str(mapping))
    message = str(err.value)
    assert message.startswith(f"{mapping}: ")
    for fragment in expected:
        assert fragment in message, message


def test_session_id_must_be_mapped_when_derivation_is_off(isolated_home: Path, tmp_path: Path) -> None:
    body = GOOD.replace("      session_id: sess\n", "").replace("source_name: my_shop\n",
                                                                 "source_name: my_shop\nsessions: {derive: false}\n")
    with pytest.raises(MappingError, match=r"files\[0\]\.columns: required column\(s\) \['session_id'\].*"
                                           r"sessions: \{derive: true"):
        get_source(str(_write_mapping(tmp_path, body)))


def test_several_source_values_map_to_one_event_type(isolated_home: Path, tmp_path: Path) -> None:
    body = GOOD.replace("{pv: view, atc: cart}", "{view: [pv], cart: [atc, zoom]}")
    source = get_source(str(_write_mapping(tmp_path, body)))
    first, last = source.coverage("events")
    events = source.read("events", first, last + (last - first))
    assert sorted(events["event_type"]) == ["cart", "cart", "purchase", "view"]


def test_wide_day_columns_melt_into_daily_rows(isolated_home: Path, tmp_path: Path) -> None:
    mapping = _write_mapping(tmp_path, """\
        source_name: panel
        quarantine_max_share: 0.5
        files:
          - path: sales.csv
            entity: daily_sales
            wide: {columns: '^d_(\\d+)$', value: units, start_date: 2011-01-29}
            columns: {product_id: item_id, store_id: store_id, units: units}
        """, data=WIDE_CSV, name="sales.csv")
    source = get_source(str(mapping))
    assert source.coverage("daily_sales")[0].date() == date(2011, 1, 29)
    for day in range(4):
        ingest(Partition(date(2011, 1, 29) + timedelta(days=day)), "run-1", source_spec=str(mapping))
    rows = read_frame("SELECT product_id, store_id, units, sales_date FROM raw.daily_sales "
                      "ORDER BY product_id, sales_date")
    assert len(rows) == 7  # 8 cells, one empty: quarantined (units is required), not dropped
    foods = rows[rows["product_id"] == "FOODS_1"]
    assert [str(d) for d in foods["sales_date"]] == ["2011-01-29", "2011-01-30", "2011-02-01"]
    assert list(foods["units"]) == [0.0, 3.0, 1.0]
    held = read_frame("SELECT source_line, reason FROM audit.quarantine")
    assert list(held["source_line"]) == [2] and "units: required value is missing" in held["reason"].iloc[0]
    log = read_frame("SELECT SUM(rows_in) AS i, SUM(rows_accepted) AS a, SUM(rows_quarantined) AS q "
                     "FROM audit.load_log WHERE entity = 'daily_sales'").iloc[0]
    assert (int(log["i"]), int(log["a"]), int(log["q"])) == (8, 7, 1)
    products = read_frame("SELECT product_id, created_at FROM raw.products ORDER BY product_id")
    assert list(products["product_id"]) == ["FOODS_1", "HOBBIES_2"]  # derived: the panel has no product file


def test_wide_columns_named_by_date(isolated_home: Path, tmp_path: Path) -> None:
    data = "sku,2024-03-01,2024-03-02,oops\nA,1,2,3\n"
    mapping = _write_mapping(tmp_path, """\
        source_name: dated
        files:
          - path: sales.csv
            entity: daily_sales
            wide: {columns: '^(?:\\d{4}-\\d\\d-\\d\\d|oops)$', date_format: "%Y-%m-%d", value: n}
            columns: {product_id: sku, store_id: {constant: all}, units: n}
        """, data=data, name="sales.csv")
    source = get_source(str(mapping))
    first, last = source.coverage("daily_sales")
    assert (str(first.date()), str(last.date())) == ("2024-03-01", "2024-03-02")
    bad = source.unparseable("daily_sales")
    assert len(bad) == 1 and "day='oops' could not be parsed" in bad["_reason"].iloc[0]


def test_a_calendar_file_loads_as_its_own_entity(isolated_home: Path, tmp_path: Path) -> None:
    data = "date,event,kind\n2024-12-24,Christmas Eve,religious\n2024-12-24,payday,\n2024-12-31,NYE,national\n"
    mapping = _write_mapping(tmp_path, """\
        source_name: cal
        files:
          - path: calendar.csv
            entity: calendar
            timestamp: {column: date, format: "%Y-%m-%d"}
            columns: {event_name: event, event_type: kind}
        """, data=data, name="calendar.csv")
    assert get_source(str(mapping)).entities() == ["calendar"]
    ingest(Partition(date(2024, 12, 24)), "run-1", source_spec=str(mapping))
    rows = read_frame("SELECT calendar_date, event_name, event_type FROM raw.calendar ORDER BY event_name")
    assert list(rows["event_name"]) == ["Christmas Eve", "NYE", "payday"]  # NYE: known ahead
    assert str(rows["calendar_date"].iloc[0]) == "2024-12-24"


M5_CALENDAR = """\
date,wm_yr_wk,weekday,wday,month,year,d,event_name_1,event_type_1,event_name_2,event_type_2,snap_CA
2011-02-05,11102,Saturday,1,2,2011,d_8,,,,,1
2011-02-06,11102,Sunday,2,2,2011,d_9,SuperBowl,Sporting,,,1
2011-04-24,11113,Sunday,2,4,2011,d_86,OrthodoxEaster,Religious,Easter,Cultural,0
2011-07-04,11123,Monday,3,7,2011,d_157,IndependenceDay,National,,,0
"""


def test_a_one_row_per_date_calendar_loads_every_day(isolated_home: Path, tmp_path: Path, capsys) -> None:
    """The calendar a daily-sales panel ships: one row per date, most with no event, a second
    event column. ``map --infer`` proposes it as a calendar; a date without an event is
    quarantined as such but does not count against the quarantine limit (it failed the day's
    load: 1 of 1 rows over 1 %), and mapping the file twice loads the second event column."""
    from tasks.cli import main

    (tmp_path / "calendar.csv").write_text(M5_CALENDAR)
    assert main(["map", "--infer", str(tmp_path / "calendar.csv")]) == 0
    proposed = capsys.readouterr().out
    spec = yaml.safe_load(proposed)["files"][0]
    assert spec["entity"] == "calendar"
    assert spec["columns"] == {"event_name": "event_name_1", "event_type": "event_type_1"}
    assert "['event_name_2'] name events too" in proposed
    second = {**spec, "columns": {"event_name": "event_name_2", "event_type": "event_type_2"}}
    mapping = tmp_path / "cal.yml"
    mapping.write_text(yaml.safe_dump({"source_name": "m5", "files": [spec, second]}))
    ingest(Partition(date(2011, 2, 5)), "run-1", source_spec=str(mapping))  # raises when over the limit
    # Known in advance: the load of 2011-02-05 brings the events of the next LOOK_AHEAD_DAYS
    # (a forecast made that day sees Easter, 78 days on), not 2011-07-04 (149 days on).
    rows = read_frame("SELECT calendar_date, event_name FROM raw.calendar ORDER BY event_name")
    assert list(rows["event_name"]) == ["Easter", "OrthodoxEaster", "SuperBowl"]
    for day in (date(2011, 2, 6), date(2011, 4, 24)):
        ingest(Partition(day), "run-1", source_spec=str(mapping))
    rows = read_frame("SELECT calendar_date, event_name FROM raw.calendar ORDER BY event_name")
    assert list(rows["event_name"]) == ["Easter", "IndependenceDay", "OrthodoxEaster", "SuperBowl"]
    held = read_frame("SELECT reason FROM audit.quarantine")
    assert len(held) == 4  # 2011-02-05 twice, the empty second column of 2011-02-06 and 2011-07-04
    assert (held["reason"] == "event_name: empty: no event on this date (not counted against the "
                              "quarantine limit)").all()
    log = read_frame("SELECT SUM(rows_in) AS i, SUM(rows_accepted) AS a, SUM(rows_quarantined) AS q "
                     "FROM audit.load_log WHERE entity = 'calendar'").iloc[0]
    assert (int(log["i"]), int(log["a"]), int(log["q"])) == (8, 4, 4)  # each partition counted once


def test_derived_users_take_the_first_country_seen(isolated_home: Path, tmp_path: Path) -> None:
    data = "id,cust,amount,country,ts\nt1,u1,5,,2024-03-01 10:00:00\nt2,u1,7,FR,2024-03-01 11:00:00\n"
    mapping = _write_mapping(tmp_path, textwrap.dedent("""\
        source_name: pay
        files:
          - path: tx.csv
            entity: transactions
            timestamp: {column: ts, format: "%Y-%m-%d %H:%M:%S"}
            columns: {transaction_id: id, user_id: cust, amount: amount, country: country}
        """), data=data, name="tx.csv")
    source = get_source(str(mapping))
    assert source.entities() == ["transactions", "users"]
    users = source.read("users", source.coverage()[0], source.coverage()[1])
    assert list(users["user_id"]) == ["u1"] and users["country"].iloc[0] == "FR"
    assert str(users["signup_at"].iloc[0]) == "2024-03-01 10:00:00"


def test_an_ignored_value_with_a_real_defect_still_counts_against_the_limit() -> None:
    """Only rows whose every reason is a declared one (``NOT_COUNTED``) are exempt from the
    quarantine limit: an ignored event type on a row that also lacks its event id counts."""
    from datetime import datetime

    import pandas as pd

    from tasks.ingest.schema import ENTITIES
    from tasks.ingest.validate import validate_partition

    frame = pd.DataFrame({"event_id": ["e1", None, "e3"], "session_id": ["s1", "s1", "s1"],
                          "event_type": ["ignored:remove_from_cart", "ignored:remove_from_cart", "view"],
                          "product_id": ["p1", "p1", "p1"],
                          "event_at": [datetime(2024, 3, 1, 10)] * 3})
    result = validate_partition(ENTITIES["events"], frame, datetime(2024, 3, 1), datetime(2024, 3, 2))
    assert len(result.accepted) == 1 and len(result.rejected) == 2
    assert list(result.not_counted) == [True, False]
    assert result.ignored == 1
    assert "event_id: required value is missing" in result.rejected["_reason"].iloc[1]
