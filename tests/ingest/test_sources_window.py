"""The Source contract on the synthetic source: window filtering, provenance, cache, get_source."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest.schema import ENTITIES
from tasks.ingest.sources import SOURCE_FILE, SOURCE_ROW, get_source
from tasks.ingest.sources.synthetic import SyntheticSource
from tasks.ingest.synthetic import generate


def test_read_returns_exactly_the_half_open_window(isolated_home: Path) -> None:
    source = get_source("synthetic")
    assert isinstance(source, SyntheticSource)
    assert source.size == "S"
    assert source.seed == 42
    truth = generate("S", 42)["events"]
    start, end = datetime(2026, 1, 10, 13), datetime(2026, 1, 10, 14)
    got = source.read("events", start, end)
    expected = truth[(truth["event_at"] >= start) & (truth["event_at"] < end)]
    assert len(got) == len(expected) > 0
    assert set(got["event_id"]) == set(expected["event_id"])
    # A row exactly at `end` belongs to the next window, one exactly at `start` to this one.
    boundary = truth["event_at"].iloc[len(truth) // 2].to_pydatetime()
    assert boundary in set(source.read("events", boundary, boundary + timedelta(hours=1))["event_at"])
    assert boundary not in set(source.read("events", boundary - timedelta(hours=1), boundary)["event_at"])


def test_consecutive_hours_partition_a_day_without_gaps_or_overlap(isolated_home: Path) -> None:
    source = get_source("synthetic")
    day = datetime(2026, 1, 17)
    hourly = [source.read("transactions", day + timedelta(hours=h), day + timedelta(hours=h + 1))
              for h in range(24)]
    daily = source.read("transactions", day, day + timedelta(days=1))
    ids = pd.concat(hourly)["transaction_id"]
    assert ids.is_unique
    assert set(ids) == set(daily["transaction_id"])
    assert len(daily) > 0


def test_read_has_all_canonical_columns_and_provenance(isolated_home: Path) -> None:
    source = get_source("synthetic")
    first, last = source.coverage()
    assert first < datetime(2026, 1, 1) <= last  # sign-ups and listings start before the event window
    for entity in source.entities():
        frame = source.read(entity, first, last + timedelta(seconds=1))
        assert set(ENTITIES[entity].column_names) <= set(frame.columns), entity
        assert frame[SOURCE_ROW].min() >= 1
        assert frame[SOURCE_FILE].str.contains(entity).all()
        assert pd.api.types.is_datetime64_any_dtype(frame[ENTITIES[entity].time_column])
        assert source.unparseable(entity).empty
    users = source.read("users", first, last + timedelta(seconds=1))
    assert {"email", "name"} <= set(users.columns)
    assert users["email_hash"].isna().all()
    txn = source.read("transactions", first, last + timedelta(seconds=1))
    assert {"ip", "card_number"} <= set(txn.columns)
    assert "fraud_pattern" not in txn.columns


def test_empty_window_and_bad_arguments(isolated_home: Path) -> None:
    source = get_source("synthetic")
    empty = source.read("events", datetime(2020, 1, 1), datetime(2020, 1, 2))
    assert empty.empty
    assert "event_id" in empty.columns
    assert SOURCE_ROW in empty.columns
    with pytest.raises(ValueError, match="does not provide 'sessions'"):
        source.read("sessions", datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="unknown entity 'evnts'"):
        source.read("evnts", datetime(2026, 1, 1), datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="empty window"):
        source.read("events", datetime(2026, 1, 2), datetime(2026, 1, 1))


def test_cache_is_written_under_source_cache_and_rebuilt_when_missing(isolated_home: Path) -> None:
    source = get_source("synthetic")
    source.coverage()
    cache = isolated_home / "source" / source.source_id
    assert (cache / "events.parquet").exists()
    assert (cache / "manifest.json").exists()
    before = source.read("events", datetime(2026, 1, 3), datetime(2026, 1, 4))
    (cache / "manifest.json").unlink()
    after = get_source("synthetic").read("events", datetime(2026, 1, 3), datetime(2026, 1, 4))
    pd.testing.assert_frame_equal(before, after)


def test_settings_choose_size_and_seed(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks import settings

    monkeypatch.setenv("ECOMFLOW_SEED", "7")
    settings.reset()
    source = get_source("synthetic")
    assert source.seed == 7
    assert "seed7" in source.source_id


def test_unknown_spec_lists_the_options() -> None:
    with pytest.raises(ValueError, match="unknown source 'kaggle'") as err:
        get_source("kaggle")
    assert "synthetic" in str(err.value)
    assert "uci_online_retail" in str(err.value)
    assert "mapping" in str(err.value)
    with pytest.raises(ValueError, match="does not exist"):
        get_source("/nonexistent/mapping.yml")
