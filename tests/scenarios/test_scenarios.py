"""Each issue-14 data shape, generated small and seeded, loads through the real mapping source and
loader into a temp DuckDB warehouse: every row in is accepted or quarantined, and the entities
the source lacks are derived."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest.load import ingest
from tasks.ingest.load_days import ingest_days
from tasks.ingest.sources import get_source
from tasks.partitions import Partition
from tasks.warehouse import read_frame
from tests.scenarios import generators

MAPPINGS = Path(__file__).parent / "mappings"


def _setup(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    shutil.copy(MAPPINGS / f"{name}.yml", folder / f"{name}.yml")
    return folder / f"{name}.yml"


def _load_days(mapping: Path, first: date, last: date) -> None:
    day = first
    while day <= last:
        ingest(Partition(day), "scenario", source_spec=str(mapping))
        day += timedelta(days=1)


def _reconciled(source: str, entity: str) -> tuple[int, int, int]:
    """(rows in, accepted, quarantined) from audit.load_log, checked against raw.* and audit.quarantine."""
    log = read_frame("SELECT rows_in, rows_accepted, rows_quarantined FROM audit.load_log "
                     "WHERE source = :s AND entity = :e", {"s": source, "e": entity})
    assert (log["rows_in"] == log["rows_accepted"] + log["rows_quarantined"]).all()
    n_in, n_ok, n_bad = (int(log[c].sum()) for c in ("rows_in", "rows_accepted", "rows_quarantined"))
    raw = read_frame(f"SELECT COUNT(*) AS n FROM raw.{entity} WHERE _source = :s", {"s": source})["n"].iloc[0]
    held = read_frame("SELECT COUNT(*) AS n FROM audit.quarantine WHERE source = :s AND entity = :e",
                      {"s": source, "e": entity})["n"].iloc[0]
    assert (int(raw), int(held)) == (n_ok, n_bad)
    return n_in, n_ok, n_bad


def test_clickstream_without_users_products_or_sessions(isolated_home: Path, tmp_path: Path) -> None:
    mapping = _setup(tmp_path, "clickstream")
    clicks = generators.clickstream(mapping.parent)
    buys = clicks[clicks["behavior"] == "buy"]
    assert buys.duplicated(["user_id", "item_id"]).any()  # the pattern is really there: repeat buys
    _load_days(mapping, generators.CLICK_START.date(), clicks["at"].max().date())
    assert _reconciled("scenario_clickstream", "events") == (len(clicks), len(clicks), 0)
    events = read_frame("SELECT user_id, product_id, event_type, session_id, event_at FROM raw.events")
    assert set(events["event_type"]) == {"view", "cart", "purchase"}
    assert events["session_id"].notna().all() and events["session_id"].str.startswith("s-").all()
    # sessions never span a 30-minute gap of their user
    for _, visit in events.sort_values("event_at").groupby("session_id"):
        assert visit["user_id"].nunique() == 1
        assert (visit["event_at"].diff().dropna() <= pd.Timedelta(minutes=30)).all()
    users = _reconciled("scenario_clickstream", "users")
    products = _reconciled("scenario_clickstream", "products")
    assert users == (clicks["user_id"].nunique(),) * 2 + (0,)
    assert products == (clicks["item_id"].nunique(),) * 2 + (0,)
    cats = read_frame("SELECT product_id, category FROM raw.products")
    assert cats["category"].notna().all()


def test_wide_daily_panel_over_five_years(isolated_home: Path, tmp_path: Path) -> None:
    mapping = _setup(tmp_path, "wide_panel")
    panel = generators.wide_panel(mapping.parent)
    n_days = panel.shape[1] - 2
    source = get_source(str(mapping))
    first, last = source.coverage("daily_sales")
    assert (first.date(), (last - first).days + 1) == (generators.PANEL_START, n_days)
    assert n_days >= 5 * 365
    # The whole history in one historical load (bulk: tasks/ingest/load_days.py), one partition per day.
    ingest_days(first.date(), last.date() + timedelta(days=1), "scenario", source_spec=str(mapping))
    assert _reconciled("scenario_wide_panel", "daily_sales") == (n_days * len(panel), n_days * len(panel), 0)
    days = read_frame("SELECT COUNT(DISTINCT dt) AS n FROM audit.load_log WHERE entity = 'daily_sales'")
    assert int(days["n"].iloc[0]) == n_days
    rows = read_frame("SELECT product_id, units, sales_date FROM raw.daily_sales ORDER BY product_id, sales_date")
    expected = panel.set_index("item_id").drop(columns="store_id").stack().astype(float)
    assert list(rows["units"]) == list(expected)
    assert (rows["units"] == 0).mean() > 0.3  # intermittent demand
    assert set(read_frame("SELECT product_id FROM raw.products")["product_id"]) <= set(panel["item_id"])


def test_weekly_sales_per_store_and_department_keep_returns(isolated_home: Path, tmp_path: Path) -> None:
    mapping = _setup(tmp_path, "weekly_sales")
    weekly = generators.weekly_store_sales(mapping.parent)
    assert (weekly["Weekly_Sales"] < 0).any()
    for day in sorted(set(weekly["Date"])):  # weekly grain: one daily partition per week
        ingest(Partition(date.fromisoformat(day)), "scenario", source_spec=str(mapping))
    assert _reconciled("scenario_weekly_sales", "daily_sales") == (len(weekly), len(weekly), 0)
    rows = read_frame("SELECT store_id, product_id, units, is_promo FROM raw.daily_sales")
    assert (rows["units"] < 0).sum() == (weekly["Weekly_Sales"] < 0).sum()  # returns kept as negative demand
    assert rows.groupby(["store_id", "product_id"]).ngroups == weekly.groupby(["Store", "Dept"]).ngroups
    assert rows["is_promo"].sum() == (weekly["IsHoliday"] == "TRUE").sum()


def test_card_transactions_over_two_days_with_zero_amounts_and_signals(isolated_home: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = _setup(tmp_path, "card_transactions")
    cards = generators.card_transactions(mapping.parent)
    monkeypatch.setenv("ECOMFLOW_SOURCE", str(mapping))
    from tasks import settings
    from tasks.cli import plan

    settings.reset()
    planned = plan()  # two days: a run is planned, not refused
    assert (planned["HISTORY_START"], planned["DAILY_PARTITION"]) == ("2013-09-01", "2013-09-02")
    _load_days(mapping, date(2013, 9, 1), date(2013, 9, 2))
    assert _reconciled("scenario_cards", "transactions") == (len(cards), len(cards), 0)
    rows = read_frame("SELECT amount, is_fraud, is_non_positive_amount, extra_features FROM raw.transactions")
    assert int(rows["is_non_positive_amount"].sum()) == int((cards["Amount"] == 0).sum()) > 0
    assert int(rows["is_fraud"].sum()) == int(cards["Class"].sum())
    signals = pd.read_json(pd.io.common.StringIO("[" + ",".join(rows["extra_features"]) + "]"))
    assert sorted(signals.columns) == ["V1", "V2", "V3", "V4", "V5"]
    assert signals["V1"].sum() == pytest.approx(cards["V1"].sum())
