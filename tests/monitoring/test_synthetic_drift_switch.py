"""The synthetic shop's planted drift (``generate(drift_day=...)``): off by default, prices jump
from the drift day on, nothing before it and nothing random moves."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tasks.ingest.synthetic import DEFAULT_START, config, generate
from tasks.settings import load_settings

DAY = 40


@pytest.fixture(scope="module")
def shops() -> tuple:
    return generate("S", 42), generate("S", 42, drift_day=DAY)


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
    again = generate("S", 42, drift_day=None)
    for entity, frame in plain.frames.items():
        pd.testing.assert_frame_equal(frame, again[entity])


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
        monkeypatch.delenv("ECOMFLOW_SYNTHETIC_DRIFT_DAY")
        settings.reset()
        assert "drift_day" not in SyntheticSource().fingerprint()
    finally:
        settings.reset()
