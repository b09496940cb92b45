"""``ecomflow plan`` on short and partial sources, ``map --infer`` and ``check-mapping``, run as a user would."""

from __future__ import annotations

import random
import subprocess
import textwrap
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tasks.cli import main, plan
from tasks.ingest.schema import ENTITIES
from tasks.partitions import plan_run
from tasks.settings import REPO_ROOT

HOURLY = {name for name, ent in ENTITIES.items() if ent.hourly}
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "bad_input"


def test_a_partial_last_day_is_left_to_the_next_daily_run_and_the_demo_hour_is_noon() -> None:
    run = plan_run({"events": (datetime(2026, 1, 1, 0, 22), datetime(2026, 3, 2, 0, 3)),
                    "users": (datetime(2025, 12, 2), datetime(2026, 3, 2, 0, 1))}, HOURLY)
    assert (run.history_start.isoformat(), run.daily.label, run.hourly.label) == (
        "2025-12-02", "2026-03-01", "2026-03-01T12")


def test_a_complete_last_day_is_the_daily_partition() -> None:
    run = plan_run({"events": (datetime(2019, 10, 1, 0, 0), datetime(2019, 10, 7, 23, 59, 59))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2019-10-07", "2019-10-07T12")


def test_two_days_of_transactions_plan_a_run() -> None:
    run = plan_run({"transactions": (datetime(2013, 9, 1, 0, 0), datetime(2013, 9, 2, 23, 59, 52))}, HOURLY)
    assert (run.history_start.isoformat(), run.daily.label) == ("2013-09-01", "2013-09-02")


def test_less_than_a_day_runs_that_day() -> None:
    run = plan_run({"events": (datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 17, 30))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2024-05-01", "2024-05-01T12")
    run = plan_run({"events": (datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 10, 30))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2024-05-01", "2024-05-01T10")  # the last hour with data


def test_a_daily_only_source_runs_its_last_day() -> None:
    run = plan_run({"daily_sales": (datetime(2011, 1, 29), datetime(2016, 5, 22))}, HOURLY)
    assert (run.daily.label, run.hourly.label) == ("2016-05-22", "2016-05-22T12")


def test_a_calendar_running_past_the_sales_does_not_move_the_plan() -> None:
    """A daily-sales panel's calendar lists dates weeks past its last sales day: the run is the
    last day with sales (a calendar alone still plans its own last day)."""
    spans = {"daily_sales": (datetime(2011, 1, 29), datetime(2016, 4, 24)),
             "calendar": (datetime(2011, 1, 29), datetime(2016, 6, 19))}
    assert plan_run(spans, HOURLY).daily.label == "2016-04-24"
    events = {"events": (datetime(2024, 5, 1), datetime(2024, 5, 3, 23)),
              "calendar": (datetime(2024, 1, 1), datetime(2024, 12, 31))}
    run = plan_run(events, HOURLY)
    assert (run.history_start.isoformat(), run.daily.label) == ("2024-05-01", "2024-05-03")
    assert plan_run({"calendar": spans["calendar"]}, HOURLY).daily.label == "2016-06-19"


def test_plan_on_a_two_day_mapping_source(isolated_home: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tx.csv").write_text("id,cust,amount,t\nt1,u1,5,10\nt2,u2,0,86000\nt3,u1,7,172790\n")
    (tmp_path / "m.yml").write_text(textwrap.dedent("""\
        source_name: cards
        files:
          - path: tx.csv
            entity: transactions
            timestamp: {column: t, format: epoch_s, origin: 2013-09-01}
            columns: {transaction_id: id, user_id: cust, amount: amount}
        """))
    monkeypatch.setenv("ECOMFLOW_SOURCE", str(tmp_path / "m.yml"))
    from tasks import settings

    settings.reset()
    assert plan() == {"SOURCE": "cards", "HISTORY_START": "2013-09-01", "DAILY_PARTITION": "2013-09-02",
                      "DAILY_LOGICAL_DATE": "2013-09-03", "HOURLY_PARTITION": "2013-09-02T12",
                      "HOURLY_LOGICAL_TS": "2013-09-02T13:00:00"}


def test_inferred_mapping_passes_check_mapping(tmp_path: Path, capsys) -> None:
    assert main(["map", "--infer", str(FIXTURES / "derived_entities" / "clicks.csv")]) == 0
    proposed = capsys.readouterr().out
    doc = yaml.safe_load(proposed)
    spec = doc["files"][0]
    assert spec["entity"] == "events"
    assert spec["timestamp"] == {"column": "ts", "format": "%Y-%m-%d %H:%M:%S"}
    assert spec["columns"]["user_id"] == "visitor" and spec["columns"]["product_id"] == "item"
    assert spec["event_type_map"] == {"view": ["detail", "pv"], "cart": ["addtocart", "fav"],
                                      "purchase": ["buy", "order"]}
    (tmp_path / "proposed.yml").write_text(proposed)
    assert main(["check-mapping", str(tmp_path / "proposed.yml")]) == 0
    report = capsys.readouterr().out
    assert "will run   recommender" in report
    assert "will skip  risk                   needs transactions" in report
    # A replenishment policy needs sales *and* a stock table.
    assert "will skip  inventory_policy       needs order_lines or daily_sales and inventory" in report
    assert "users         derived" in report


def test_infer_finds_amounts_labels_and_signals(capsys) -> None:
    assert main(["map", "--infer", str(FIXTURES / "zero_amounts" / "transactions.csv")]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)["files"][0]
    assert spec["entity"] == "transactions"
    assert spec["columns"]["transaction_id"] == "txn" and spec["columns"]["is_fraud"] == "fraud"
    assert spec["features"] == {"v1": "numeric", "merchant_type": "categorical"}


def test_check_mapping_reports_a_bad_mapping_with_its_key(tmp_path: Path) -> None:
    result = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "ecomflow"), "check-mapping",
                             str(FIXTURES / "wrong_mapping" / "mapping.yml")], capture_output=True, text=True,
                            cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "files[2].timestamp.fromat: unknown key(s) ['fromat'] (did you mean 'format'?)" in result.stderr


def _retailrocket_like(folder: Path) -> Path:
    """A clickstream shaped like a public one: epoch-millisecond times, ids glued to their
    suffix (``visitorid``, ``itemid``), a mostly empty ``transactionid``."""
    rng = random.Random(7)
    t, rows = 1_433_221_332_117, []
    for _ in range(400):
        t += rng.randint(1_000, 600_000)
        event = rng.choices(["view", "addtocart", "transaction"], [90, 7, 3])[0]
        rows.append(f"{t},{rng.randint(1, 80)},{event},{rng.randint(1, 60)},"
                    f"{rng.randint(1, 99) if event == 'transaction' else ''}")
    path = folder / "events.csv"
    path.write_text("timestamp,visitorid,event,itemid,transactionid\n" + "\n".join(rows) + "\n")
    return path


def _rees46_like(folder: Path) -> Path:
    """A clickstream shaped like another public one: text times with a zone, the shop's own
    ``user_session``, a category code and brand, and an event type no canonical type covers."""
    rng = random.Random(11)
    start, rows = datetime(2019, 10, 1), []
    for i in range(400):
        ts = start + timedelta(minutes=7 * i)
        event = rng.choices(["view", "cart", "remove_from_cart", "purchase"], [80, 8, 6, 6])[0]
        rows.append(f"{ts:%Y-%m-%d %H:%M:%S} UTC,{event},{rng.randint(1000, 1040)},2053013555631882655,"
                    f"{rng.choice(['electronics.smartphone', '', 'appliances.kitchen'])},"
                    f"{rng.choice(['samsung', 'apple', ''])},{rng.uniform(5, 900):.2f},"
                    f"{512000000 + rng.randint(0, 50)},s{i // 5}")
    path = folder / "events.csv"
    path.write_text("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
                    "user_session\n" + "\n".join(rows) + "\n")
    return path


def _taobao_like(folder: Path) -> Path:
    """A clickstream shipped without a header line: user, item, category, behaviour, Unix seconds."""
    rng = random.Random(5)
    t, rows = 1_511_544_070, []
    for _ in range(400):
        t += rng.randint(60, 900)
        rows.append(f"{rng.randint(1, 80)},{rng.randint(1000, 1060)},{rng.randint(1, 9) * 1000},"
                    f"{rng.choices(['pv', 'cart', 'fav', 'buy'], [85, 6, 5, 4])[0]},{t}")
    path = folder / "UserBehavior.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _anonymous_sessions(folder: Path) -> Path:
    """Clicks of anonymous sessions (no user column, no event type): session, ISO time, item."""
    rng = random.Random(13)
    rows = [f"{s},2014-04-0{1 + s % 2}T{8 + s % 12:02d}:{m:02d}:07.{rng.randint(100, 999)}Z,{rng.randint(1, 60)},0"
            for s in range(1, 120) for m in range(rng.randint(1, 6))]
    path = folder / "clicks.csv"
    path.write_text("session_id,timestamp,item_id,category\n" + "\n".join(rows) + "\n")
    return path


SHAPES = {"retailrocket": _retailrocket_like, "rees46": _rees46_like, "taobao": _taobao_like,
          "anonymous_sessions": _anonymous_sessions}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_inferred_mappings_of_public_clickstream_shapes_load_without_failing(
        shape: str, isolated_home: Path, tmp_path: Path, capsys) -> None:
    """``map --infer`` on two common public clickstream layouts proposes a mapping that finds the
    ids and the time column, proposes no identifier as a model feature, and loads a day: every
    input row accepted or quarantined with its reason, and the load does not fail on the event
    type no canonical type covers."""
    from tasks.ingest.load import ingest
    from tasks.partitions import Partition
    from tasks.warehouse import read_frame

    data = SHAPES[shape](tmp_path)
    assert main(["map", "--infer", str(data)]) == 0
    proposed = capsys.readouterr().out
    doc = yaml.safe_load(proposed)
    spec = doc["files"][0]
    assert spec["entity"] == "events"
    if shape == "taobao":
        assert spec["csv"] == {"header": False, "names": ["user_id", "item_id", "category_id", "event", "timestamp"]}
        assert spec["timestamp"] == {"column": "timestamp", "format": "epoch_s"}
        assert {k: spec["columns"][k] for k in ("user_id", "product_id", "category", "event_type")} == \
            {"user_id": "user_id", "product_id": "item_id", "category": "category_id", "event_type": "event"}
        assert spec["event_type_map"] == {"view": ["pv"], "cart": ["cart", "fav"], "purchase": ["buy"]}
        assert "no header" in proposed
    elif shape == "anonymous_sessions":  # each session is its own user, so per-user models run
        assert spec["columns"]["user_id"] == {"template": "s-{session_id}"}
        assert spec["columns"]["event_type"] == {"constant": "view"}
        assert "could not tell the entity" not in proposed and "no user column" in proposed
    elif shape == "retailrocket":
        assert spec["timestamp"] == {"column": "timestamp", "format": "epoch_ms"}
        assert (spec["columns"]["user_id"], spec["columns"]["product_id"]) == ("visitorid", "itemid")
        assert "features" not in spec, spec.get("features")  # ids are not signals
        assert "ignore" not in spec["event_type_map"]
    else:
        assert spec["timestamp"] == {"column": "event_time", "format": "%Y-%m-%d %H:%M:%S %Z"}
        assert spec["columns"]["session_id"] == "user_session"
        assert spec["features"] == {"category_code": "categorical", "brand": "categorical"}
        assert spec["event_type_map"]["ignore"] == ["remove_from_cart"]
    mapping = tmp_path / "proposed.yml"
    mapping.write_text(proposed)
    assert main(["check-mapping", str(mapping)]) == 0
    assert "will run   recommender" in capsys.readouterr().out

    from tasks.ingest.sources import get_source

    first, last = get_source(str(mapping)).coverage("events")
    day = first.date()
    ingest(Partition(day), "run-1", source_spec=str(mapping))  # a day: the bulk path
    for hour in range(24):  # the next day hour by hour, as the hourly DAG loads: a few rows each
        ingest(Partition(day + timedelta(days=1), hour), "run-1", source_spec=str(mapping))
    log = read_frame("SELECT rows_in, rows_accepted, rows_quarantined FROM audit.load_log "
                     "WHERE entity = 'events'").sum()
    lines = data.read_text().splitlines()[0 if shape == "taobao" else 1:]
    expected_in = sum(1 for line in lines if _row_day(line, shape) in (day, day + timedelta(days=1)))
    assert int(log["rows_in"]) == expected_in > 0
    assert int(log["rows_accepted"]) + int(log["rows_quarantined"]) == int(log["rows_in"])
    held = read_frame("SELECT reason FROM audit.quarantine")
    if shape == "rees46":
        # More than the 1 % quarantine limit, yet published: declared ignored, not bad input.
        assert int(log["rows_quarantined"]) / int(log["rows_in"]) > 0.01
        assert len(held) == int(log["rows_quarantined"])
        assert (held["reason"] == "event_type: source value 'remove_from_cart' is ignored by the mapping "
                                  "(event_type_map.ignore, not counted against the quarantine limit)").all(), \
            held["reason"].head()
        assert not read_frame("SELECT event_type FROM raw.events")["event_type"].str.startswith("ignored").any()
    else:
        assert held.empty, held["reason"].head()


def _row_day(line: str, shape: str) -> date:
    first = line.split(",", 1)[0]
    if shape == "taobao":
        return datetime.fromtimestamp(int(line.rsplit(",", 1)[1]), tz=UTC).date()
    if shape == "retailrocket":
        return datetime.fromtimestamp(int(first) / 1000, tz=UTC).date()
    if shape == "anonymous_sessions":
        return date.fromisoformat(line.split(",")[1][:10])
    return datetime.strptime(first.removesuffix(" UTC"), "%Y-%m-%d %H:%M:%S").date()


SALES_SHAPES = {
    # a wide per-day panel: the department beside the store is not the store
    "panel": ("id,item_id,dept_id,cat_id,store_id,state_id," + ",".join(f"d_{i}" for i in range(1, 9)),
              "HOBBIES_1_001_CA_1,HOBBIES_1_001,HOBBIES_1,HOBBIES,CA_1,CA,0,1,0,0,3,0,1,2",
              {"product_id": "item_id", "store_id": "store_id", "units": "units"}, {}),
    # invoice lines: the item code's name is two words glued (StockCode)
    "invoices": ("Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country",
                 "489434,85048,LED CANDLE,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom",
                 {"order_id": "Invoice", "product_id": "StockCode", "quantity": "Quantity",
                  "unit_price": "Price", "user_id": "Customer ID"}, {}),
    # weekly sales per store and department, a holiday flag as TRUE/FALSE
    "weekly": ("Store,Dept,Date,Weekly_Sales,IsHoliday", "1,3,2010-02-05,24924.5,FALSE",
               {"product_id": "Dept", "store_id": "Store", "units": "Weekly_Sales", "is_promo": "IsHoliday"},
               {"boolean_map": {"TRUE": True, "FALSE": False}}),
}


@pytest.mark.parametrize("shape", sorted(SALES_SHAPES))
def test_infer_finds_the_series_keys_of_public_sales_layouts(shape: str, tmp_path: Path, capsys) -> None:
    header, row, columns, extra = SALES_SHAPES[shape]
    data = tmp_path / f"{shape}.csv"
    data.write_text(header + "\n" + "\n".join([row] * 3) + "\n")
    assert main(["map", "--infer", str(data)]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)["files"][0]
    assert {k: v for k, v in spec["columns"].items() if k in columns} == columns
    for key, value in extra.items():
        assert spec[key] == value


def test_a_users_file_without_a_time_column_is_dated_when_each_user_is_first_seen(
        isolated_home: Path, tmp_path: Path, capsys) -> None:
    """A clickstream with a user profile file (id, gender, age band; no sign-up time): ``map
    --infer`` proposes a users file without a timestamp, and the loader dates each user from
    their first event (a user no event mentions: the source's first instant)."""
    from tasks.ingest.load import ingest
    from tasks.ingest.sources import get_source
    from tasks.partitions import Partition
    from tasks.warehouse import read_frame

    events = _retailrocket_like(tmp_path)
    users = tmp_path / "users.csv"
    users.write_text("visitorid,gender,age_range\n" + "".join(
        f"{u},{'MF'[u % 2]},{('18-24', '25-34')[u % 3 == 0]}\n" for u in range(1, 91)))  # 81-90: no events
    docs = []
    for data in (events, users):
        assert main(["map", "--infer", str(data)]) == 0
        docs.append(yaml.safe_load(capsys.readouterr().out))
    spec = docs[1]["files"][0]
    assert spec["entity"] == "users" and "timestamp" not in spec
    assert spec["columns"] == {"user_id": "visitorid"}
    assert spec["features"] == {"gender": "categorical", "age_range": "categorical"}
    mapping = tmp_path / "shop.yml"
    mapping.write_text(yaml.safe_dump({"source_name": "shop", "files": [docs[0]["files"][0], spec]}))
    assert main(["check-mapping", str(mapping)]) == 0
    assert ("users         files[1] users.csv (no time column: each row dated when its id is first seen); "
            "extra features") in capsys.readouterr().out

    source = get_source(str(mapping))
    first, last = source.coverage()
    read = source.read("users", first, last + timedelta(seconds=1)).set_index("user_id")
    clicks = pd.read_csv(events)
    first_click = clicks.groupby("visitorid")["timestamp"].min()
    for user in (1, 17, 80):
        assert read.loc[str(user), "signup_at"] == pd.to_datetime(first_click[user], unit="ms"), user
    assert read.loc["85", "signup_at"] == pd.to_datetime(clicks["timestamp"].min(), unit="ms")
    assert len(read) == 90 and source.unparseable("users").empty

    ingest(Partition(first.date()), "run-1", source_spec=str(mapping))
    log = read_frame("SELECT rows_in, rows_accepted, rows_quarantined FROM audit.load_log "
                     "WHERE entity = 'users'").sum()
    loaded = read_frame("SELECT user_id, extra_features FROM raw.users")
    assert int(log["rows_in"]) == int(log["rows_accepted"]) == len(loaded) > 10
    assert loaded["extra_features"].str.contains('"gender"').all()


CARD_SHAPES = {
    # seconds from a reference point, the amount's name abbreviated, a product code as a signal
    "seconds_from_reference": ("TransactionID,isFraud,TransactionDT,TransactionAmt,ProductCD,C1",
                               ["2987000,0,86400,68.5,W,1", "2987001,1,86401,29.0,H,2"],
                               {"transaction_id": "TransactionID", "amount": "TransactionAmt",
                                "is_fraud": "isFraud"}, ("TransactionDT", "epoch_s"), {"ProductCD", "C1"}),
    # a simulation's hourly time step
    "hourly_steps": ("step,type,amount,oldbalanceOrg,isFraud", ["1,PAYMENT,9839.64,170136.0,0",
                                                                "2,TRANSFER,181.0,181.0,1"],
                     {"amount": "amount", "is_fraud": "isFraud"}, ("step", "epoch_h"), {"type", "oldbalanceOrg"}),
}


@pytest.mark.parametrize("shape", sorted(CARD_SHAPES))
def test_infer_finds_time_offsets_and_amounts_of_public_card_layouts(shape: str, isolated_home: Path,
                                                                      tmp_path: Path, capsys) -> None:
    from tasks.ingest.sources import get_source

    header, rows, columns, (time_column, time_format), features = CARD_SHAPES[shape]
    data = tmp_path / f"{shape}.csv"
    data.write_text("\n".join([header, *rows]) + "\n")
    assert main(["map", "--infer", str(data)]) == 0
    proposed = capsys.readouterr().out
    doc = yaml.safe_load(proposed)
    spec = doc["files"][0]
    assert spec["entity"] == "transactions"
    assert {k: v for k, v in spec["columns"].items() if k in columns} == columns
    assert spec["timestamp"] == {"column": time_column, "format": time_format, "origin": "YYYY-MM-DD"}
    assert set(spec["features"]) == features
    assert "set timestamp.origin" in proposed
    spec["timestamp"]["origin"] = "2020-01-01"  # what the note asks the user to fill in
    (tmp_path / "m.yml").write_text(yaml.safe_dump(doc))
    source = get_source(str(tmp_path / "m.yml"))
    first, last = source.coverage("transactions")
    step = timedelta(hours=1) if time_format == "epoch_h" else timedelta(seconds=1)
    offsets = [int(r.split(",")[header.split(",").index(time_column)]) for r in rows]
    assert (first, last) == (datetime(2020, 1, 1) + offsets[0] * step, datetime(2020, 1, 1) + offsets[1] * step)


def test_a_header_named_like_event_types_over_counts_stays_a_header(tmp_path: Path, capsys) -> None:
    """Only a first line that looks like the values below it is taken for data: a daily funnel
    table ``date,view,cart,purchase`` of counts keeps its header."""
    data = tmp_path / "funnel.csv"
    data.write_text("date,view,cart,purchase\n2024-01-01,100,10,3\n2024-01-02,120,12,4\n")
    assert main(["map", "--infer", str(data)]) == 0
    spec = yaml.safe_load(capsys.readouterr().out)["files"][0]
    assert "csv" not in spec and spec["timestamp"]["column"] == "date"
