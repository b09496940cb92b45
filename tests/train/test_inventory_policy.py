"""The inventory policy: its maths by hand, the replay physics, the config, and the policy against
the synthetic shop's planted truth (offline: the shop's frames, no warehouse; the warehouse
train + score is tests/score/test_inventory_actions.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tasks.ingest.synthetic import generate
from tasks.ingest.synthetic.inventory import inventory_truth
from tasks.replenishment import order_quantity, simulate
from tasks.train.common import ConfigError, config_from_dict
from tasks.train.inventory_policy import InventoryConfig, PolicySpec, fit_and_evaluate
from tasks.train.inventory_policy.data import NotApplicable, demand_history, parameters
from tasks.train.inventory_policy.evaluation import order_up_to, windows
from tasks.train.inventory_policy.policy import (
    Demand,
    days_of_cover,
    demand_quantile,
    from_forecast_quantiles,
    p_stockout,
    reason_text,
    safety_stock,
    seasonal_naive_level,
    trailing_demand,
)
from tasks.train.inventory_policy.recipe import align
from tests.fixtures.pricing_frames import shop_categories, shop_daily_sales

CFG = InventoryConfig()


# ------------------------------------------------------------------ policy maths ---
def test_order_quantity_rounds_up_to_whole_packs_and_respects_the_moq() -> None:
    level = np.array([10.0, 10.0, 10.0, 10.0, 3.2])
    position = np.array([3.0, 3.0, 10.0, 12.0, 3.0])
    pack = np.array([6, 6, 6, 6, 1])
    moq = np.array([0, 18, 0, 0, 0])
    assert order_quantity(level, position, pack, moq).tolist() == [12.0, 18.0, 0.0, 0.0, 1.0]
    # An MOQ that is not a whole number of packs is rounded up to packs too (a supplier ships packs).
    assert order_quantity(np.array([10.0]), np.array([9.0]), np.array([4]), np.array([5])).tolist() == [8.0]


def test_safety_stock_tends_to_z_sigma_for_large_demand_and_grows_with_the_service_level() -> None:
    big = Demand(np.array([10_000.0]), np.array([10_000.0]))  # gamma ~ normal(10000, 100)
    assert safety_stock(big, 0.95)[0] == pytest.approx(1.645 * 100, rel=0.02)
    slow = Demand(np.array([2.0, 2.0, 0.0]), np.array([4.0, 4.0, 0.0]))
    low, high = safety_stock(slow, 0.8), safety_stock(slow, 0.99)
    assert (high[:2] > low[:2]).all() and low[2] == high[2] == 0.0  # no demand: no stock
    # At the reorder point the chance of a stock-out is exactly the allowed one.
    rop = demand_quantile(slow, 0.9)
    assert p_stockout(slow, rop)[:2] == pytest.approx([0.1, 0.1], abs=1e-6)
    assert p_stockout(slow, np.array([0.0, 50.0, 0.0])).tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)


def test_trailing_demand_scales_with_protection_days_floors_at_poisson_and_shrinks_to_category() -> None:
    history = np.array([[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],   # steady: variance 0 -> Poisson floor
                        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0]])  # lumpy: variance above the mean
    d = trailing_demand(history, np.array([9, 9]), history_days=28)
    assert d.mean.tolist() == pytest.approx([9.0, 9.0])
    assert d.var[0] == pytest.approx(9.0) and d.var[1] > 9.0 * 5
    sellers = np.vstack([np.full((4, 28), 1.0), np.zeros((1, 28)), np.full((1, 28), 3.0)])
    groups = np.array(["a"] * 6)
    raw = trailing_demand(sellers, np.ones(6), 28).mean
    shrunk = trailing_demand(sellers, np.ones(6), 28, groups).mean
    assert raw[4] == 0.0 and shrunk[4] > 0.0  # a quiet product still has a chance of demand
    assert raw[5] > shrunk[5] > raw[0]  # the top seller is pulled towards its category, not past it


def test_forecast_quantiles_give_the_protection_period_demand() -> None:
    flat = np.full((2, 14), 2.0)
    d = from_forecast_quantiles(flat, flat, flat, np.array([9, 28]))
    assert d.mean.tolist() == pytest.approx([18.0, 56.0])  # 28 > horizon: the horizon's sum scaled up
    assert d.var.tolist() == pytest.approx([18.0, 56.0])  # no spread: the Poisson floor
    wide = from_forecast_quantiles(np.zeros((1, 7)), np.full((1, 7), 1.0), np.full((1, 7), 5.0), np.array([7]))
    assert wide.mean[0] == pytest.approx(7 * (0.63 + 0.185 * 5))
    assert wide.var[0] == pytest.approx(7 * (5 / 2.5631) ** 2, rel=1e-3)


def test_seasonal_naive_level_repeats_last_week_over_the_protection_period() -> None:
    history = np.array([[9.0, 1, 2, 3, 4, 5, 6, 7]])
    assert seasonal_naive_level(history, np.array([9]))[0] == pytest.approx(28 + 1 + 2)
    assert seasonal_naive_level(history, np.array([7]))[0] == pytest.approx(28)


def test_days_of_cover_is_unknown_without_demand() -> None:
    d = Demand(np.array([9.0, 0.0]), np.array([9.0, 0.0]))
    cover = days_of_cover(np.array([4.0, 4.0]), d, np.array([9, 9]))
    assert cover[0] == pytest.approx(4.0) and np.isnan(cover[1])


def test_reason_text_reads_like_the_merchandiser_expects() -> None:
    assert reason_text(0.31, 0.05, 9, 24.0) == "P(stock-out in 9 days) 0.31 > 0.05 target; order 24 units"
    assert reason_text(0.31, 0.05, 9, 24.0, pack=12) == (
        "P(stock-out in 9 days) 0.31 > 0.05 target; order 24 units (2 packs of 12)")
    assert reason_text(0.02, 0.05, 9, 0.0) == "P(stock-out in 9 days) 0.02 <= 0.05 target; no order"
    assert reason_text(0.4, 0.05, 16, 12.0, pack=1, moq=12, gap=3.0).endswith("order 12 units (MOQ 12)")
    served_rule = reason_text(0.4, 0.05, 16, 6.0, policy="days-of-cover rule", level=8.0)
    assert served_rule.startswith("days-of-cover rule: position below order-up-to 8;") and "order 6 units" in served_rule


# ------------------------------------------------------------------ replay physics ---
def test_replay_by_hand_lead_time_three_runs_out_once() -> None:
    """Order-up-to 6, daily review, lead 3, demand 2 a day, worked by hand: the orders of days 1
    and 2 arrive on days 4 and 5, so day 3 opens empty (4 on order) and loses its 2 units."""
    rep = simulate(np.full((1, 5), 2.0), np.array([3]), np.array([1]), np.array([0]),
                   lambda t, position: np.array([6.0]), np.array([6.0]), review_days=1)
    assert rep.on_hand_open[0].tolist() == [6.0, 4.0, 2.0, 0.0, 2.0]
    assert rep.ordered[0].tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]
    assert rep.lost[0].tolist() == [0.0, 0.0, 0.0, 2.0, 0.0]
    m = rep.metrics()
    assert m["fill_rate"] == pytest.approx(0.8) and m["stockout_days"] == 1 and m["units_lost"] == 2
    assert m["avg_inventory"] == pytest.approx(np.mean([4, 2, 0, 0, 0]))
    assert m["turnover"] == pytest.approx(8 / 1.2 * 365 / 5)


# ------------------------------------------------------------------ config ---
def test_config_is_validated_and_unknown_keys_name_themselves() -> None:
    with pytest.raises(ValueError, match="service_level"):
        InventoryConfig(service_level=1.0)
    with pytest.raises(ValueError, match="category_service_levels"):
        InventoryConfig(category_service_levels=(("books", 1.5),))
    with pytest.raises(ConfigError, match="cover_dayz"):
        config_from_dict(InventoryConfig, {**CFG.to_dict(), "cover_dayz": 3})
    cfg = config_from_dict(InventoryConfig, {**CFG.to_dict(), "category_service_levels": [["books", 0.9]]})
    assert cfg.category_levels() == {"books": 0.9}


def test_category_levels_override_the_default_and_survive_the_artefact() -> None:
    spec = PolicySpec("policy", 0.8, {"books": 0.99})
    assert spec.service_levels(np.array(["books", "toys"])).tolist() == [0.99, 0.8]
    again = PolicySpec.from_artefact(spec.to_preprocessing(), "learned")
    assert again == spec
    assert PolicySpec.from_artefact(spec.to_preprocessing(), "baseline:days_of_cover").strategy == "days_of_cover"


def test_short_or_non_daily_sales_are_not_applicable() -> None:
    with pytest.raises(NotApplicable, match="days of sales"):
        windows(20, CFG)
    weekly = pd.DataFrame({"product_id": "p1", "sales_date": pd.date_range("2026-01-04", periods=20, freq="7D"),
                           "units": 5.0})
    with pytest.raises(NotApplicable, match="weekly"):
        demand_history(weekly)


# ------------------------------------------------------------------ against the planted truth ---
@pytest.fixture(scope="module")
def shop_s():
    return generate("S")


def _offline(shop, cfg: InventoryConfig = CFG):
    inventory = shop["inventory"]
    last = inventory[inventory["snapshot_at"] == inventory["snapshot_at"].max()]
    demand = align(demand_history(shop_daily_sales(shop), (shop.end - pd.Timedelta(days=1)).date()), last)
    return demand, parameters(demand.products, last, shop_categories(shop), cfg)


def test_policy_beats_every_baseline_on_the_holdout_of_synthetic_s(shop_s) -> None:
    demand, params = _offline(shop_s)
    fitted = fit_and_evaluate(demand, params, CFG)
    best = max(fitted.baselines.values(), key=lambda m: m["fill_rate"])
    assert fitted.metrics["fill_rate"] >= best["fill_rate"]
    assert fitted.metrics["turnover"] >= 1.10 * best["turnover"]  # the goal, measured on S
    assert fitted.metrics["turnover_at_fill"] > max(b["turnover_at_fill"] for b in fitted.baselines.values())
    assert fitted.served == "policy"
    # Turnover alone is no win: the seasonal-naive rule turns stock faster by running out.
    naive = fitted.baselines["order_up_to_seasonal_naive"]
    assert naive["fill_rate"] < fitted.metrics["fill_rate"] and naive["turnover_at_fill"] == 0.0


def test_policy_levels_are_closest_to_the_planted_optimal_levels(shop_s) -> None:
    from scipy.stats import spearmanr

    demand, params = _offline(shop_s)
    fitted = fit_and_evaluate(demand, params, CFG)
    truth = inventory_truth(shop_s["inventory"], shop_s["order_lines"], shop_s.start, shop_s.size.n_days)
    optimal = truth.set_index("product_id").reindex(demand.products)["optimal_order_up_to"].to_numpy()
    error = {name: np.abs(order_up_to(spec, demand.units, params, CFG) - optimal).mean()
             for name, spec in (("policy", fitted.spec), ("days_of_cover", PolicySpec("days_of_cover")),
                                ("seasonal_naive", PolicySpec("order_up_to_seasonal_naive")))}
    assert error["policy"] < min(error["days_of_cover"], error["seasonal_naive"]), error
    assert spearmanr(order_up_to(fitted.spec, demand.units, params, CFG), optimal).statistic > 0.8


def test_calibration_can_be_switched_off(shop_s) -> None:
    demand, params = _offline(shop_s)
    fixed = fit_and_evaluate(demand, params, dataclasses.replace(CFG, calibrate_service_level=False))
    assert fixed.spec.service_level == CFG.service_level and fixed.extra["calibration"] == "calibration off"


def test_a_served_baseline_rule_decides_and_says_so(shop_s) -> None:
    """When a baseline won the holdout its registered version is served: its order-up-to level
    decides, the reason names the rule, P(stock-out) is still reported."""
    from tasks.train.inventory_policy.serving import actions

    demand, params = _offline(shop_s)
    inventory = shop_s["inventory"]
    last = inventory[inventory["snapshot_at"] == inventory["snapshot_at"].max()]
    as_of = shop_s.end.date()
    spec = PolicySpec.from_artefact(PolicySpec().to_preprocessing(), "baseline:days_of_cover")
    rows = actions(spec, CFG, demand, params, last, pd.DataFrame(), None, as_of).set_index("product_id")
    expected = order_up_to(PolicySpec("days_of_cover"), demand.units, params, CFG)
    assert rows["reorder_point"].to_numpy() == pytest.approx(expected)
    assert set(rows["policy"]) == {"days_of_cover"} and set(rows["demand_source"]) == {"own_history"}
    ordered = rows[rows["action"] == "order"]
    assert len(ordered) and ordered["reason"].str.startswith("days-of-cover rule: position below order-up-to").all()
    assert (ordered["inventory_position"] < ordered["reorder_point"]).all()
