"""The synthetic shop's planted drifts (``generate(drift_day=..., drift_kind=...)``): off by
default; ``price``: prices jump from the drift day on; ``popularity``: what is bought moves to
the hot category. Nothing before the drift day moves, and without a drift day nothing at all."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tasks.ingest.synthetic import DEFAULT_START, SyntheticShop, config, generate
from tasks.settings import load_settings

DAY = 40


@pytest.fixture(scope="module")
def shops() -> tuple:
    return generate("S", 42), generate("S", 42, drift_day=DAY)


@pytest.fixture(scope="module")
def popular() -> SyntheticShop:
    return generate("S", 42, drift_day=DAY, drift_kind="popularity")


def test_prices_jump_from_the_drift_day_and_only_then(shops: tuple) -> None:
    plain, drifted = shops
    cut = DEFAULT_START + timedelta(days=DAY)
    for entity, column, at in (("order_lines", "unit_price", "ordered_at"),
                               ("transactions", "amount", "transaction_at")):
        a, b = plain[entity], drifted[entity]
        assert len(a) == len(b)
        before, after = a[at] < cut, a[at] >= cut
        pd.testing.assert_frame_equal(a[before], b[before])
        ratio = (b.loc[after, column] / a.loc[after, column]).median()
        assert ratio == pytest.approx(config.DRIFT_PRICE_FACTOR, rel=0.01), entity
    # Who bought what is unchanged: the drift is in the prices only.
    pd.testing.assert_series_equal(plain["order_lines"]["product_id"], drifted["order_lines"]["product_id"])
    pd.testing.assert_frame_equal(plain["events"].drop(columns="price"), drifted["events"].drop(columns="price"))
    # The price history says so: one change on the drift day per product listed by then.
    hikes = drifted["prices"][drifted["prices"]["valid_from"] == cut]
    assert len(hikes) > 0 and len(drifted["prices"]) > len(plain["prices"])


def test_default_is_the_undrifted_shop(shops: tuple) -> None:
    plain, _ = shops
    for again in (generate("S", 42, drift_day=None), generate("S", 42, drift_day=None, drift_kind="popularity")):
        for entity, frame in plain.frames.items():
            pd.testing.assert_frame_equal(frame, again[entity])


def _units_by_category(shop: SyntheticShop, after: bool) -> pd.Series:
    lines = shop["order_lines"].merge(shop["products"][["product_id", "category"]], on="product_id")
    cut = DEFAULT_START + timedelta(days=DAY)
    lines = lines[(lines["ordered_at"] >= cut) == after]
    return lines.groupby("category")["quantity"].sum()


def test_popularity_moves_what_is_bought_from_the_drift_day_only(shops: tuple, popular: SyntheticShop) -> None:
    plain, _ = shops
    cut = DEFAULT_START + timedelta(days=DAY)
    for entity, at in (("order_lines", "ordered_at"), ("events", "event_at"), ("transactions", "transaction_at")):
        a, b = plain[entity], popular[entity]
        pd.testing.assert_frame_equal(a[a[at] < cut].reset_index(drop=True), b[b[at] < cut].reset_index(drop=True))
    for entity in ("users", "products", "prices", "campaign_exposures"):  # prices do not move
        pd.testing.assert_frame_equal(plain[entity], popular[entity])
    before = _units_by_category(popular, after=False)
    assert before.equals(_units_by_category(plain, after=False))
    lift = _units_by_category(popular, after=True) / _units_by_category(plain, after=True)
    hot, cold = config.DRIFT_HOT_CATEGORY, config.DRIFT_COLD_CATEGORY
    others = lift.drop([hot, cold])
    assert lift[hot] > 3 and lift[cold] < 0.5  # a craze and a collapse...
    assert lift[hot] > 3 * others.max() and others.max() < 1  # ...the rest lose a share to the craze
    # the same shopping volume, redistributed: orders and lines are the same count
    assert len(popular["order_lines"]) == len(plain["order_lines"])


def test_unknown_drift_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="drift_kind"):
        generate("S", 42, drift_day=DAY, drift_kind="weather")


@pytest.mark.parametrize("day", [0, 60, -1])
def test_drift_day_outside_the_window_is_rejected(day: int) -> None:
    with pytest.raises(ValueError, match="drift_day"):
        generate("S", 42, drift_day=day)


def test_setting_reaches_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks import settings
    from tasks.ingest.sources.synthetic import SyntheticSource

    monkeypatch.setenv("ECOMFLOW_SYNTHETIC_DRIFT_DAY", str(DAY))
    settings.reset()
    try:
        assert load_settings().synthetic_drift_day == DAY
        source = SyntheticSource()
        assert source.fingerprint()["drift_day"] == DAY and source.source_id.endswith(f"-drift{DAY}")
        assert "drift_kind" not in source.fingerprint()  # the price drift keeps its cache key
        monkeypatch.setenv("ECOMFLOW_SYNTHETIC_DRIFT_KIND", "popularity")
        settings.reset()
        source = SyntheticSource()
        assert source.drift_kind == "popularity" and source.fingerprint()["drift_kind"] == "popularity"
        assert source.source_id.endswith(f"-drift{DAY}-popularity")
        monkeypatch.setenv("ECOMFLOW_SYNTHETIC_DRIFT_KIND", "weather")
        settings.reset()
        with pytest.raises(Exception, match="ECOMFLOW_SYNTHETIC_DRIFT_KIND|synthetic_drift_kind"):
            load_settings()
        monkeypatch.delenv("ECOMFLOW_SYNTHETIC_DRIFT_KIND")
        monkeypatch.delenv("ECOMFLOW_SYNTHETIC_DRIFT_DAY")
        settings.reset()
        assert "drift_day" not in SyntheticSource().fingerprint()
    finally:
        settings.reset()
