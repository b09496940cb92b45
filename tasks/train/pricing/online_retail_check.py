"""The pricing recipe on UCI Online Retail (docs/pricing.md, "Real data"), without a warehouse.

Daily units and ``avg_price`` (revenue / units, as ``features.daily_item_sales`` computes it) per
StockCode over the last ``days`` days, for the ``top`` best-selling codes; the same
``fit_and_evaluate`` the recipe runs, then the recommendations with and without the guard on
order-line prices. Run: ``python -m tasks.train.pricing.online_retail_check [path]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from tasks.settings import REPO_ROOT
from tasks.train.pricing.config import PricingConfig
from tasks.train.pricing.panel import PricePanel, to_price_panel
from tasks.train.pricing.recipe import fit_and_evaluate
from tasks.train.pricing.serving import recommend_panel

DEFAULT_PATH = REPO_ROOT.parent / "shared" / "data" / "online_retail_uci" / "online_retail.csv.gz"


def online_retail_panel(path: str, days: int = 120, top: int = 1000) -> PricePanel:
    df = pd.read_csv(path, dtype={"StockCode": str, "InvoiceNo": str})
    df = df[~df["InvoiceNo"].str.startswith("C") & (df["Quantity"] > 0) & (df["UnitPrice"] > 0)]
    df["sales_date"] = pd.to_datetime(df["InvoiceDate"]).dt.date
    last = max(df["sales_date"])
    first = last - pd.Timedelta(days=days - 1)
    df = df[df["sales_date"] >= first].assign(revenue=lambda d: d["Quantity"] * d["UnitPrice"])
    daily = df.groupby(["StockCode", "sales_date"], as_index=False).agg(units=("Quantity", "sum"),
                                                                       revenue=("revenue", "sum"))
    daily["avg_price"] = daily["revenue"] / daily["units"]
    codes = daily.groupby("StockCode")["units"].sum().nlargest(top).index
    daily = daily[daily["StockCode"].isin(codes)].rename(columns={"StockCode": "product_id"})
    grid = pd.MultiIndex.from_product([codes, pd.date_range(first, last).date],
                                      names=["product_id", "sales_date"]).to_frame(index=False)
    sales = grid.merge(daily, on=["product_id", "sales_date"], how="left")
    sales["units"] = sales["units"].fillna(0.0)
    return to_price_panel(sales)


def main(path: str) -> None:
    panel = online_retail_panel(path)
    lp = panel.log_price
    spread = np.nanmax(lp, 1) - np.nanmin(lp, 1)
    print(f"{len(panel.products)} products x {panel.n_days} days; share of product-days with a sale "
          f"{(panel.units > 0).mean():.3f}; products whose price varies > 5 %: {int((spread > np.log(1.05)).sum())}")
    cfg = PricingConfig()
    started = time.perf_counter()
    fitted = fit_and_evaluate(panel, cfg)
    print(f"fit {time.perf_counter() - started:.1f} s")
    print("| candidate | wape (main) | changed_price_wape | changed_price_bias | poisson_deviance |")
    for name, m in {"model": fitted.metrics, **fitted.baselines}.items():
        print(f"| {name} | {m.get('wape', np.nan):.4f} | {m.get('changed_price_wape', np.nan):.4f} | "
              f"{m.get('changed_price_bias', np.nan):.3f} | {m.get('poisson_deviance', np.nan):.2f} |")
    fit = fitted.full_fits["hierarchical"]
    print(f"units-weighted mean elasticity {np.average(fit.beta, weights=panel.units.sum(1)):.3f}; "
          f"global {fitted.full_fits['global_elasticity'].beta[0]:.3f}; median se {np.median(fit.beta_se):.3f}")
    params = {"a": fit.a, "beta": fit.beta, "beta_se": fit.beta_se, "ref_log_price": fit.ref_log_price,
              "level": np.array(fit.level(cfg.recent_days))}
    products, cats = list(panel.products), [""] * len(panel.products)
    guarded = recommend_panel(params, products, cats, panel, cfg)
    unguarded = recommend_panel(params, products, cats, panel, PricingConfig(recommend_on_order_prices=True))
    print("actions (guarded, the default):", guarded["action"].value_counts().to_dict())
    print("actions without the order-price guard:", unguarded["action"].value_counts().to_dict())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_PATH))
