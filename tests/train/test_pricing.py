"""Pricing: guardrails, elasticity recovery on the synthetic shop's planted truth, a planted
confounder, and a real train + score of synthetic S on DuckDB (idempotent, skips without prices)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.ingest.synthetic import generate
from tasks.ingest.synthetic.pricing_truth import catalog_of, true_elasticities
from tasks.train import pricing
from tasks.train.pricing.panel import PricePanel
from tasks.warehouse import read_frame, replace_partition
from tests.fixtures.pricing_frames import shop_categories, shop_daily_sales

CFG = pricing.PricingConfig()
TYPES = {"as_of_hour": "TIMESTAMP"}


@pytest.fixture(scope="module")
def shop_s():
    return generate("S")


# ------------------------------------------------------------------ guardrails ---
def test_prices_end_in_99_and_stay_within_the_max_change() -> None:
    prices = pricing.candidate_prices(20.00, CFG)
    assert 20.00 in prices  # keeping the current price is always a candidate
    others = [p for p in prices if p != 20.00]
    assert others == [18.99, 19.99, 20.99, 21.99]  # every .99 price in [18.00, 22.00]
    rec = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=0.1, cfg=CFG)
    assert rec.action == "lower" and rec.price == 18.99
    assert "lower 20.00 -> 18.99" in rec.reason
    up = pricing.recommend(20.00, q0=10.0, beta=-0.3, se=0.1, cfg=CFG)  # inelastic: raise
    assert up.action == "raise" and abs(up.price / 20.00 - 1) <= CFG.max_change + 1e-9
    assert round(up.price % 1, 2) == 0.99


def test_min_margin_over_cost_is_a_floor() -> None:
    # Revenue wants a cut (elastic), but 18.99 < cost 17.00 * 1.15 = 19.55: keep instead.
    rec = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=0.1, cfg=CFG, cost=17.00)
    assert rec.price >= 17.00 * (1 + CFG.min_margin) or rec.action == "keep"
    assert rec.action == "keep"
    # The margin objective with a known cost: optimum p* = c * b / (1 + b) = 10 * 1.5 = 15 for b = -3,
    # so from 20.00 it cuts as far as allowed.
    margin = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=0.1, cfg=pricing.PricingConfig(objective="margin"),
                               cost=10.0)
    assert margin.objective == "margin" and margin.price == 18.99
    # Margin without a known cost falls back to revenue and says so.
    fallback = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=0.1, cfg=pricing.PricingConfig(objective="margin"))
    assert fallback.objective == "revenue" and "no unit cost known" in fallback.reason


def test_uncertain_estimates_keep_the_price() -> None:
    too_wide = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=2.0, cfg=CFG)
    assert too_wide.action == "keep" and "too uncertain" in too_wide.reason
    # se within the limit, but the interval straddles -1 (revenue flips direction there).
    straddles = pricing.recommend(20.00, q0=10.0, beta=-1.3, se=0.5, cfg=CFG)
    assert straddles.action == "keep" and "interval end" in straddles.reason
    sure = pricing.recommend(20.00, q0=10.0, beta=-1.3, se=0.1, cfg=CFG)
    assert sure.action == "lower"


def test_a_cut_that_only_takes_units_from_siblings_is_not_recommended() -> None:
    """Own elasticity -1.5 says "cut" for revenue, but with cannibalisation (gamma 3, share 0.5) the
    siblings (worth as much again per day) lose more than the product gains: raise instead.
    By hand: 21.99 -> own 21.99*10*1.0995**-1.5 = 190.7 (-9.3), siblings 200*(1.0995**1.5 - 1) = +30.6."""
    own_only = pricing.recommend(20.00, q0=10.0, beta=-1.5, se=0.05, cfg=CFG)
    assert own_only.action == "lower"
    with_siblings = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=0.05, cfg=CFG, share=0.5, gamma=3.0,
                                      gamma_se=0.1, sibling_value=200.0)
    assert with_siblings.action == "raise" and with_siblings.price == 21.99
    assert with_siblings.gain == pytest.approx((21.99 * 10 * 1.0995**-1.5 - 200 + 200 * (1.0995**1.5 - 1)) / 200,
                                               abs=2e-3)
    assert "elasticity -1.50" in with_siblings.reason and "cross-elasticity +1.50" in with_siblings.reason
    # An uncertain cannibalisation slope keeps the price (a corner of the box loses).
    unsure = pricing.recommend(20.00, q0=10.0, beta=-3.0, se=0.05, cfg=CFG, share=0.5, gamma=3.0,
                               gamma_se=2.0, sibling_value=200.0)
    assert unsure.action == "keep" and "interval end" in unsure.reason


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="objective"):
        pricing.PricingConfig(objective="profit")
    with pytest.raises(ValueError, match="max_change"):
        pricing.PricingConfig(max_change=1.5)


# ------------------------------------------------------- recovery and confounding ---
def _shop_panel(shop) -> PricePanel:
    sales = shop_daily_sales(shop)
    shown = pricing.daily_prices(shop["prices"], sales["sales_date"].min(), sales["sales_date"].max())
    return pricing.to_price_panel(sales, shop_categories(shop), shown)


def test_elasticity_recovery_on_the_synthetic_shop(shop_s) -> None:
    """The planted own-price elasticity (docs/synthetic_ground_truth.md) is recovered: the
    units-weighted mean within 0.35 of the truth (-1.87), and the learned model's error (own slope +
    cannibalisation) below both the global and the category-average slope's; the cannibalisation
    slope is positive and clearly non-zero (siblings' cuts take this product's units)."""
    panel = _shop_panel(shop_s)
    truth = true_elasticities(catalog_of("S")).set_index("product_id").loc[panel.products, "own_elasticity"]
    weight = panel.units.sum(1)
    kwargs = {"prior_sd_category": CFG.prior_sd_category, "prior_sd_product": CFG.prior_sd_product}
    fits = {slope: pricing.fit_elasticity(panel, panel.n_days, slope, **kwargs)
            for slope in ("global_elasticity", "category_elasticity")}
    fits["hierarchical"] = pricing.fit_elasticity(panel, panel.n_days, "hierarchical", cannibalisation=True, **kwargs)
    err = {k: np.average(np.abs(f.own_elasticity - truth.to_numpy()), weights=weight) for k, f in fits.items()}
    mean = np.average(fits["hierarchical"].own_elasticity, weights=weight)
    assert abs(mean - np.average(truth, weights=weight)) < 0.35, (mean, np.average(truth, weights=weight))
    assert err["hierarchical"] < min(err["global_elasticity"], err["category_elasticity"]), err
    assert (fits["hierarchical"].beta_se > 0).all()
    gamma, gamma_se = fits["hierarchical"].gamma, fits["hierarchical"].gamma_se
    assert gamma - 2 * gamma_se > 0, (gamma, gamma_se)


def test_day_effects_stop_a_planted_confounder() -> None:
    """Promotions planted on busy days (traffic x3) with a true elasticity of -2: without day
    effects the busy days look like price response; with them the estimate stays near -2."""
    rng = np.random.default_rng(7)
    n_products, n_days = 60, 70
    busy = rng.random(n_days) < 0.2
    traffic = np.where(busy, 3.0, 1.0)
    promo = (rng.random((n_products, n_days)) < 0.6) & busy[None, :]  # promotions only on busy days
    price = np.where(promo, 0.8, 1.0) * rng.uniform(5, 50, n_products)[:, None]
    base = rng.lognormal(0, 0.5, n_products)[:, None]
    units = rng.poisson(base * traffic[None, :] * (price / price.max(axis=1, keepdims=True)) ** -2.0)
    panel = PricePanel(products=np.array([f"p{i}" for i in range(n_products)], dtype=object),
                       categories=np.array(["c"] * n_products, dtype=object),
                       dates=[date(2024, 1, 1) + timedelta(days=i) for i in range(n_days)],
                       units=units.astype(float), log_price=np.log(price), promo=promo,
                       cost=np.full(n_products, np.nan))
    kwargs = {"prior_sd_category": 1.0, "prior_sd_product": 0.5}
    naive = pricing.fit_elasticity(panel, n_days, "global_elasticity", day_effects=False, **kwargs)
    controlled = pricing.fit_elasticity(panel, n_days, "global_elasticity", day_effects=True, **kwargs)
    assert naive.beta[0] < -4.0  # confounded: traffic counted as price response
    assert abs(controlled.beta[0] + 2.0) < 0.3


# ----------------------------------------------------- train + score on DuckDB ---
def _load_shop(shop, as_of: date, with_prices: bool = True) -> None:
    sales = shop_daily_sales(shop, as_of).assign(as_of_date=as_of, as_of_hour=pd.NaT)
    sales["as_of_hour"] = sales["as_of_hour"].astype("datetime64[ns]")
    partition = {"as_of_date": as_of, "as_of_hour": None}
    replace_partition(pricing.FEATURE_TABLE, sales if with_prices else sales.assign(avg_price=np.nan),
                      partition, column_types=TYPES)
    cats = shop_categories(shop)
    items = pd.DataFrame({"product_id": list(cats), "category": list(cats.values()), "as_of_date": as_of})
    items["as_of_hour"] = pd.Series([pd.NaT] * len(items), dtype="datetime64[ns]")
    replace_partition("features.item_features", items, partition, column_types=TYPES)
    if with_prices:
        replace_partition("raw.prices", shop["prices"].assign(dt=as_of), {"dt": as_of})


def test_train_and_score_synthetic_s(isolated_home, shop_s) -> None:
    from tasks.score.price_recommendations import TABLE, score_price_recommendations

    as_of = shop_s.end.date()
    _load_shop(shop_s, as_of)
    result = pricing.train(as_of, "train-1")
    assert result.status == "champion", result
    assert set(result.baseline_metrics) >= set(pricing.BASELINES) or "learned:pricing" in result.baseline_metrics
    # Whatever won the holdout is served; every candidate was scored on the same days.
    served = result.version.split("-")[1].removeprefix("baseline_") if "-baseline_" in result.version else "learned"
    candidates = {**result.baseline_metrics, served: result.metrics}
    learned = candidates.get("learned:pricing", candidates.get("learned"))
    assert set(candidates) - {"learned:pricing", "learned"} == set(pricing.BASELINES)
    # Price matters on this shop: on the holdout's price-changed days the learned elasticity's
    # total is closer to the actual units than a model that ignores price (bias 1 = exact).
    assert abs(1 - learned["changed_price_bias"]) < abs(1 - candidates["no_elasticity"]["changed_price_bias"])
    n = score_price_recommendations(as_of, "run-1")
    rows = read_frame(f"SELECT * FROM {TABLE} ORDER BY product_id")
    assert n == len(rows) > 0
    assert set(rows["model_version"]) == {result.version} and set(rows["run_id"]) == {"run-1"}
    assert set(rows["action"]) <= {"raise", "lower", "keep"}
    assert rows["reason"].str.len().gt(10).all()
    changed = rows[rows["action"] != "keep"]
    assert (np.abs(changed["recommended_price"] / changed["current_price"] - 1) <= CFG.max_change + 1e-9).all()
    assert np.allclose((changed["recommended_price"] * 100).round() % 100, 99)
    kept = rows[rows["action"] == "keep"]
    assert (kept["recommended_price"] == kept["current_price"]).all()
    assert np.allclose(rows["expected_revenue_current"], rows["current_price"] * rows["expected_units_current"])
    # Idempotent: re-scoring the partition replaces it with identical rows.
    assert score_price_recommendations(as_of, "run-1") == n
    again = read_frame(f"SELECT * FROM {TABLE} ORDER BY product_id")
    pd.testing.assert_frame_equal(rows, again)


def test_skips_without_prices(isolated_home, shop_s) -> None:
    as_of = shop_s.end.date()
    _load_shop(shop_s, as_of, with_prices=False)
    result = pricing.train(as_of, "train-1")
    assert result.status == "skipped"
    assert "no prices" in result.reason


def test_truth_catalogue_is_the_generated_one(shop_s) -> None:
    """``catalog_of`` rebuilds the catalogue behind ``generate``'s frames without drawing anything
    else (so the truth the recovery test checks against is the shop's own)."""
    catalog = catalog_of("S")
    products = shop_s["products"]
    assert catalog.products["product_id"].tolist() == products["product_id"].tolist()
    assert catalog.products["category"].tolist() == products["category"].tolist()
    np.testing.assert_array_equal(catalog.list_price, products["price"].to_numpy())
    truth = true_elasticities(catalog)
    # A product that owns most of its category is inelastic (S has one at -0.77); none is positive.
    assert truth["own_elasticity"].between(-3.5, 0.0).all()
    assert (truth["own_elasticity"] >= truth["category_elasticity"]).all()  # substitution softens it


def test_no_price_changes_recommended_from_order_line_prices_alone(shop_s) -> None:
    """Without a price list the shown price is the realised unit price, which bulk tiers tie to the
    quantity ordered (UCI Online Retail): the rows are kept, with that reason."""
    from tasks.train.pricing.serving import ORDER_PRICE_REASON, recommend_panel

    panel = pricing.to_price_panel(shop_daily_sales(shop_s), shop_categories(shop_s))
    assert panel.price_source == "order_lines"
    fit = pricing.fit_elasticity(panel, panel.n_days, "hierarchical", prior_sd_category=1.0, prior_sd_product=0.5)
    params = {"a": fit.a, "beta": fit.beta, "beta_se": fit.beta_se, "ref_log_price": fit.ref_log_price,
              "level": np.array(fit.level(7))}
    rows = recommend_panel(params, list(panel.products), list(panel.categories), panel, CFG)
    assert len(rows) == len(panel.products)
    assert (rows["action"] == "keep").all() and (rows["reason"] == ORDER_PRICE_REASON).all()
    allowed = recommend_panel(params, list(panel.products), list(panel.categories), panel,
                              pricing.PricingConfig(recommend_on_order_prices=True))
    assert (allowed["action"] != "keep").any()


def test_a_price_shown_as_zero_gets_no_row_and_no_other_row_breaks(shop_s) -> None:
    """UCI Online Retail has lines at 0.001 (0.00 to the cent): scoring divided by that price and
    failed the day's task. Such a product gets no row; every other row stays finite."""
    from tasks.train.pricing.serving import recommend_panel

    panel = pricing.to_price_panel(shop_daily_sales(shop_s), shop_categories(shop_s))
    fit = pricing.fit_elasticity(panel, panel.n_days, "hierarchical", prior_sd_category=1.0, prior_sd_product=0.5)
    params = {"a": fit.a, "beta": fit.beta, "beta_se": fit.beta_se, "ref_log_price": fit.ref_log_price,
              "level": np.array(fit.level(7))}
    free = panel.products[0]
    known = np.flatnonzero(np.isfinite(panel.log_price[0]))
    panel.log_price[0, known[-1]] = np.log(0.001)
    cfg = pricing.PricingConfig(recommend_on_order_prices=True)
    with np.errstate(all="raise"):  # no division by zero, no log of zero, no inf * 0 on the way
        rows = recommend_panel(params, list(panel.products), list(panel.categories), panel, cfg)
    assert free not in set(rows["product_id"])
    assert len(rows) == len(panel.products) - 1
    numeric = rows.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy()).all(), numeric[~np.isfinite(numeric).all(axis=1)]


def test_evaluate_table_reads_the_recipes_main_metric() -> None:
    """``ecomflow evaluate`` prints pricing like every model: main metric from the recipe, every baseline."""
    from tasks.evaluate import HOLDOUT_PROTOCOL, ModelEvaluation, format_tables, main_metric

    assert main_metric("pricing") == ("wape", False)
    assert "pricing" in HOLDOUT_PROTOCOL
    baselines = {name: {"wape": 0.5 + i / 100} for i, name in enumerate(pricing.BASELINES)}
    text = format_tables("toy", date(2024, 3, 1), [ModelEvaluation("pricing", "champion", "pricing-2024-03-01-ab",
                                                                   {"wape": 0.45}, baselines, "")])
    assert "| metric | learned | no_elasticity | global_elasticity | category_elasticity |" in text
    assert "learned beats the best other candidate (no_elasticity) on wape" in text
