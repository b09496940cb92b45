"""The inventory policy vs its baselines on a synthetic shop (figures of docs/inventory.md).

    .venv/bin/python benchmarks/inventory_policy.py --size S [--curve]

1. Loads the shop into a fresh DuckDB warehouse under a temporary $ECOMFLOW_HOME (daily sales as
   ``features.daily_item_sales``, categories, ``raw.inventory``, some order lines) and trains the
   model through ``ecomflow evaluate``'s own code (``evaluate_models`` + ``format_tables``):
   the table is what ``ecomflow evaluate`` prints for this model.
2. ``--curve``: the holdout replay's fill rate and turnover of the policy at several service levels
   and of the days-of-cover rule at several cover lengths, to compare whole trade-off curves
   rather than one setting of the rule.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S")
    parser.add_argument("--curve", action="store_true")
    args = parser.parse_args()
    os.environ["ECOMFLOW_HOME"] = tempfile.mkdtemp(prefix="inventory_bench_")

    import pandas as pd

    from tasks.evaluate import evaluate_models, format_tables
    from tasks.ingest.synthetic import generate
    from tasks.warehouse import replace_partition
    from tests.fixtures.pricing_frames import shop_categories, shop_daily_sales

    t0 = time.time()
    shop = generate(args.size)
    as_of = shop.end.date()
    t1 = time.time()
    types = {"as_of_hour": "TIMESTAMP"}
    part = {"as_of_date": as_of, "as_of_hour": None}
    sales = shop_daily_sales(shop, as_of).assign(as_of_date=as_of, as_of_hour=pd.NaT)
    sales["as_of_hour"] = sales["as_of_hour"].astype("datetime64[ns]")
    replace_partition("features.daily_item_sales", sales, part, column_types=types)
    cats = shop_categories(shop)
    items = pd.DataFrame({"product_id": list(cats), "category": list(cats.values()), "as_of_date": as_of})
    items["as_of_hour"] = pd.Series([pd.NaT] * len(items), dtype="datetime64[ns]")
    replace_partition("features.item_features", items, part, column_types=types)
    replace_partition("raw.inventory", shop["inventory"].assign(dt=as_of), {"dt": as_of})
    replace_partition("raw.order_lines", shop["order_lines"].head(100).assign(dt=as_of), {"dt": as_of})
    t2 = time.time()
    evaluations = evaluate_models(as_of, f"benchmark__synthetic_{args.size}", models=["inventory_policy"])
    t3 = time.time()
    print(format_tables(f"synthetic {args.size}", as_of, evaluations))
    print(f"generate {t1 - t0:.1f} s, load {t2 - t1:.1f} s, train + evaluate {t3 - t2:.1f} s")
    if args.curve:
        curve(shop)


def curve(shop) -> None:  # noqa: ANN001 - a SyntheticShop
    import pandas as pd

    from tasks.train.inventory_policy import InventoryConfig, PolicySpec, replay_metrics
    from tasks.train.inventory_policy.data import demand_history, parameters
    from tasks.train.inventory_policy.evaluation import windows
    from tasks.train.inventory_policy.recipe import align
    from tests.fixtures.pricing_frames import shop_categories, shop_daily_sales

    inventory = shop["inventory"]
    last = inventory[inventory["snapshot_at"] == inventory["snapshot_at"].max()]
    demand = align(demand_history(shop_daily_sales(shop), (shop.end - pd.Timedelta(days=1)).date()), last)
    cfg = InventoryConfig()
    params = parameters(demand.products, last, shop_categories(shop), cfg)
    win = windows(len(demand.dates), cfg)
    print("\n| policy service level | fill | turnover |\n|---|---|---|")
    for level in (0.7, 0.8, 0.85, 0.9, 0.95):
        m = replay_metrics(PolicySpec("policy", level), demand, params, cfg, win.holdout_start, win.days)
        print(f"| {level} | {m['fill_rate']:.3f} | {m['turnover']:.1f} |")
    print("\n| days-of-cover | fill | turnover |\n|---|---|---|")
    for cover in (14, 17, 21, 25, 28):
        m = replay_metrics(PolicySpec("days_of_cover"), demand, params, dataclasses.replace(cfg, cover_days=cover),
                           win.holdout_start, win.days)
        print(f"| {cover} | {m['fill_rate']:.3f} | {m['turnover']:.1f} |")


if __name__ == "__main__":
    main()
