"""How the pricing model does against the synthetic shop's planted truth (docs/pricing.md).

The recipe never sees the truth; this check does, for the figures in docs/pricing.md and the
recovery tests:

- elasticity recovery: units-weighted mean absolute error of each candidate's per-product
  elasticity against the planted own-price elasticity ``-e_c (1 - s_i)``
  (``tasks/ingest/synthetic/pricing_truth.py``);
- counterfactual revenue on the simulator: the shop's own demand model evaluated at the
  recommended prices, against "keep current price", the same guardrailed rule fed the
  category-average elasticity, and an oracle fed the true elasticity. Two readings: each
  change alone (every other price as it is: what the recommendation claims) and all changes
  at once (siblings react: in this shop a category's total units ignore prices, so a
  category-wide cut only moves units between siblings).

Run: ``python -m tasks.train.pricing.synthetic_check [S|M]`` (prints the tables).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.train.pricing.config import LEARNED, PricingConfig
from tasks.train.pricing.panel import PricePanel, daily_prices, to_price_panel
from tasks.train.pricing.recipe import CANDIDATES, fit_and_evaluate
from tasks.train.pricing.serving import recommend_panel


@dataclass
class SyntheticReport:
    size: str
    n_products: int
    n_days: int
    fit_seconds: float
    holdout: dict[str, dict[str, float]]  # candidate -> holdout metrics
    recovery: dict[str, float]  # candidate -> units-weighted MAE vs true own elasticity
    truth_mean: float  # units-weighted mean true own elasticity
    estimate_mean: dict[str, float]
    revenue: pd.DataFrame  # policy x (alone_pct, alone_siblings_pct, joint_pct, n_changed)
    sample: pd.DataFrame  # the learned model's rows: the 2 largest raise / lower / keep by current revenue


def _panel(size: str, seed: int) -> tuple[PricePanel, object]:
    from tasks.ingest.synthetic import generate

    shop = generate(size, seed)
    lines = shop["order_lines"]
    lines = lines[~lines["is_cancellation"].fillna(False).astype(bool)]
    sales = (lines.assign(sales_date=lines["ordered_at"].dt.date)
             .groupby(["product_id", "sales_date"], as_index=False)["quantity"].sum()
             .rename(columns={"quantity": "units"}))
    first, last = shop.start.date(), (shop.end - pd.Timedelta(days=1)).date()
    sales = sales[(sales["sales_date"] >= first) & (sales["sales_date"] <= last)]
    # Dense over the window like features.daily_item_sales (a zero row on the first/last day pins the range).
    edge = pd.DataFrame({"product_id": sales["product_id"].iloc[0], "sales_date": [first, last], "units": 0.0})
    sales = pd.concat([sales, edge], ignore_index=True)
    shown = daily_prices(shop["prices"], first, last)
    categories = dict(zip(shop["products"]["product_id"], shop["products"]["category"], strict=True))
    return to_price_panel(sales, categories, shown), shop


def run(size: str = "S", seed: int = 42, cfg: PricingConfig | None = None) -> SyntheticReport:
    from tasks.ingest.synthetic.pricing_truth import (
        catalog_of,
        joint_units_ratio,
        own_price_units_ratio,
        true_elasticities,
    )

    cfg = cfg or PricingConfig()
    panel, shop = _panel(size, seed)
    started = time.perf_counter()
    fitted = fit_and_evaluate(panel, cfg)
    fit_seconds = time.perf_counter() - started
    catalog = catalog_of(size, seed)
    truth = true_elasticities(catalog).set_index("product_id").loc[panel.products]
    true_own = truth["own_elasticity"].to_numpy()
    weight = panel.units.sum(1)
    recovery = {name: float(np.average(np.abs(fitted.full_fits[slope].own_elasticity - true_own), weights=weight))
                for name, slope in CANDIDATES.items()}
    estimate_mean = {name: float(np.average(fitted.full_fits[slope].own_elasticity, weights=weight))
                     for name, slope in CANDIDATES.items()}

    trained = [str(p) for p in panel.products]
    cats = [str(c) for c in panel.categories]

    def params(slope: str, beta: np.ndarray | None = None, se: np.ndarray | None = None,
               gamma: float | np.ndarray | None = None) -> dict[str, np.ndarray]:
        fit = fitted.full_fits[slope]
        return {"a": fit.a, "beta": fit.beta if beta is None else beta,
                "beta_se": fit.beta_se if se is None else se, "ref_log_price": fit.ref_log_price,
                "level": np.array(fit.level(cfg.recent_days)), "share": fit.share,
                "gamma": np.asarray(fit.gamma if gamma is None else gamma),
                "gamma_se": np.asarray(fit.gamma_se if gamma is None else 0.0)}

    e_c = -truth["category_elasticity"].to_numpy()
    policies = {
        "model (own price + cannibalisation)": params("hierarchical"),
        # The same fit's own-price elasticity, siblings ignored (what an own-price-only model does).
        "model, own price only": params("hierarchical", fitted.full_fits["hierarchical"].own_elasticity, gamma=0.0),
        "category-average rule": params("category_elasticity"),
        "oracle, own price only": params("hierarchical", true_own, np.zeros(len(true_own)), gamma=0.0),
        # The planted model exactly: weight elasticity -e_c, siblings respond with +e_c x share.
        "oracle with cannibalisation": params("hierarchical", -e_c, np.zeros(len(e_c)), gamma=e_c),
    }
    day = panel.n_days - 1
    index = pd.Index(catalog.products["product_id"]).get_indexer(panel.products)
    base_all = catalog.price[:, day].copy()
    # Expected units per day at current prices on the simulator: the category's mean daily units
    # over the last 14 days spread by the planted shares.
    from tasks.ingest.synthetic.pricing_truth import expected_share

    lines = shop["order_lines"]
    recent = lines[lines["ordered_at"].dt.date >= panel.dates[-14]]
    cat_units = recent.merge(catalog.products[["product_id", "category"]], on="product_id").groupby(
        "category")["quantity"].sum() / 14.0
    q_true = cat_units.reindex(catalog.products["category"]).fillna(0).to_numpy() * expected_share(
        catalog, day, base_all)
    revenue_now = float((base_all * q_true).sum())
    rows = [{"policy": "keep current price", "alone_pct": 0.0, "alone_siblings_pct": 0.0, "joint_pct": 0.0,
             "n_changed": 0}]
    weight_now = catalog.popularity * (base_all / catalog.list_price) ** (-catalog.elasticity)
    weight_now = np.where(catalog.active_from_day <= day, weight_now, 0.0)
    from tasks.ingest.synthetic.vocabulary import CATEGORY_NAMES

    n_cat = len(CATEGORY_NAMES)
    total_w = np.bincount(catalog.category, weights=weight_now, minlength=n_cat)
    total_pw = np.bincount(catalog.category, weights=base_all * weight_now, minlength=n_cat)
    demand = cat_units.reindex(list(CATEGORY_NAMES)).fillna(0).to_numpy()
    for name, p in policies.items():
        recs = recommend_panel(p, trained, cats, panel, cfg).set_index("product_id")
        if name.startswith("model (own price + cannibalisation)"):
            titled = recs.join(shop["products"].set_index("product_id")["title"])
            sample = pd.concat([titled[titled["action"] == a].nlargest(2, "expected_revenue_current")
                                for a in ("raise", "lower", "keep")])
        proposed = base_all.copy()
        rec_price = recs["recommended_price"].reindex(panel.products).to_numpy()
        ok = np.isfinite(rec_price)
        proposed[index[ok]] = rec_price[ok]
        alone = own_price_units_ratio(catalog, day, base_all, proposed)
        joint = joint_units_ratio(catalog, day, base_all, proposed)
        # Each change alone, siblings included: the category's revenue with only product i moved.
        c = catalog.category
        w_new = np.where(catalog.active_from_day <= day,
                         catalog.popularity * (proposed / catalog.list_price) ** (-catalog.elasticity), 0.0)
        with np.errstate(all="ignore"):
            after = (total_pw[c] - base_all * weight_now + proposed * w_new) / (total_w[c] - weight_now + w_new)
            delta = np.where(total_w[c] > 0, demand[c] * (after - total_pw[c] / total_w[c]), 0.0)
        rows.append({"policy": name,
                     "alone_pct": 100 * float(((proposed * alone - base_all) * q_true).sum()) / revenue_now,
                     "alone_siblings_pct": 100 * float(np.nansum(delta)) / revenue_now,
                     "joint_pct": 100 * float(((proposed * joint - base_all) * q_true).sum()) / revenue_now,
                     "n_changed": int((recs["action"] != "keep").sum())})
    holdout = {LEARNED: fitted.metrics, **fitted.baselines}
    return SyntheticReport(size, len(panel.products), panel.n_days, fit_seconds, holdout, recovery,
                           float(np.average(true_own, weights=weight)), estimate_mean,
                           pd.DataFrame(rows).set_index("policy"), sample)


def format_report(report: SyntheticReport) -> str:
    out = [f"## synthetic {report.size}: {report.n_products} products x {report.n_days} days; "
           f"fit of all candidates (holdout + full window) {report.fit_seconds:.1f} s", "",
           "| candidate | holdout wape (main) | changed_price_wape | changed_price_bias | poisson_deviance | "
           "elasticity MAE vs truth | units-weighted mean elasticity |", "|---|---|---|---|---|---|---|"]
    for name, m in report.holdout.items():
        out.append(f"| {name} | {m.get('wape', float('nan')):.4f} | {m.get('changed_price_wape', float('nan')):.4f} | "
                   f"{m.get('changed_price_bias', float('nan')):.3f} | {m.get('poisson_deviance', float('nan')):.4f} | "
                   f"{report.recovery[name]:.3f} | {report.estimate_mean[name]:.3f} |")
    out += ["", f"planted own-price elasticity, units-weighted mean: {report.truth_mean:.3f}", "",
            "| policy (revenue objective, guardrails) | each change alone, own revenue | "
            "each change alone, + siblings | all changes at once | products changed |", "|---|---|---|---|---|"]
    for policy, row in report.revenue.iterrows():
        out.append(f"| {policy} | {row['alone_pct']:+.2f} % | {row['alone_siblings_pct']:+.2f} % | "
                   f"{row['joint_pct']:+.2f} % | {int(row['n_changed'])} |")
    out += ["", "learned model's rows (largest current revenue per action):", "",
            "| product | title | current -> recommended | own elasticity | action | reason |", "|---|---|---|---|---|---|"]
    for product, row in report.sample.iterrows():
        out.append(f"| {product} | {row['title']} | {row['current_price']:.2f} -> {row['recommended_price']:.2f} | "
                   f"{row['elasticity']:.2f} +- {row['elasticity_se']:.2f} | {row['action']} | {row['reason']} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(format_report(run(sys.argv[1] if len(sys.argv) > 1 else "S")))
