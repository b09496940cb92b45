"""Small, seeded generators of the public-data shapes of issue 14 (written to a temp dir at test time).

Each reproduces a *pattern* real shop data has and the product once mishandled, never one
file: (a) a clickstream without users, prices or sessions, with buys without views, repeat
buys and a long tail of items; (b) a wide ``d_1..d_N`` daily panel with intermittent demand
over five years; (c) weekly sales per store and department with returns (negative sales);
(d) card payments with a time offset, zero amounts, a fraud label and processor signals.
Every generator returns the number of rows it wrote per entity, for reconciliation.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

CLICK_START = datetime(2024, 11, 25)
PANEL_START = date(2019, 1, 1)
CARD_ORIGIN = datetime(2013, 9, 1)


def clickstream(folder: Path, seed: int = 7, users: int = 40, items: int = 300, days: int = 5,
                affinity: float = 0.0) -> pd.DataFrame:
    """Taobao-like ``user_id,item_id,category_id,behavior,timestamp`` (epoch seconds), no header extras.

    ``affinity``: the share of a user's clicks drawn from their favourite category (by
    popularity within it) instead of the whole catalogue; 0 = no personal taste at all.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 1.1  # long tail
    popularity /= popularity.sum()
    category = rng.integers(1, 12, size=items)
    rows = []
    for user in range(1, users + 1):
        taste = popularity
        if affinity:  # (no extra draws without it: the default stream stays what the tests saw)
            taste = popularity * (category == int(rng.integers(1, 12)))
            taste = taste / taste.sum() if taste.sum() > 0 else popularity
        for _ in range(int(rng.integers(2, 6))):  # visits
            t = CLICK_START + timedelta(days=float(rng.uniform(0, days - 0.05)))
            for _ in range(int(rng.integers(1, 9))):
                pick = taste if affinity and rng.random() < affinity else popularity
                item = int(rng.choice(items, p=pick))
                behavior = str(rng.choice(["pv", "pv", "pv", "cart", "fav", "buy"]))
                rows.append((user, item, behavior, t))
                if behavior == "buy" and rng.random() < 0.3:  # repeat buy, no view in between
                    rows.append((user, item, "buy", t + timedelta(minutes=float(rng.uniform(1, 20)))))
                t += timedelta(minutes=float(rng.uniform(0.5, 12)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "behavior", "at"])
    frame = frame[frame["at"] < CLICK_START + timedelta(days=days)]
    frame["category_id"] = category[frame["item_id"]]
    frame["item_id"] = "i" + frame["item_id"].astype(str)
    frame["timestamp"] = ((frame["at"] - datetime(1970, 1, 1)).dt.total_seconds()).astype("int64")
    frame = frame.sort_values("timestamp", kind="stable").reset_index(drop=True)
    frame[["user_id", "item_id", "category_id", "behavior", "timestamp"]].to_csv(folder / "clicks.csv", index=False)
    return frame


def wide_panel(folder: Path, seed: int = 11, items: int = 3, years: int = 5) -> pd.DataFrame:
    """M5-like ``item_id,store_id,d_1..d_N``: intermittent daily units (mostly zero), yearly season."""
    rng = np.random.default_rng(seed)
    n = (PANEL_START.replace(year=PANEL_START.year + years) - PANEL_START).days
    t = np.arange(n)
    rows = {}
    for i in range(items):
        rate = (0.2 + 0.3 * i) * (1 + 0.5 * np.sin(2 * np.pi * t / 365.25))
        rows[f"ITEM_{i}"] = rng.poisson(rate)
    frame = pd.DataFrame([[item, "CA_1", *units] for item, units in rows.items()],
                         columns=["item_id", "store_id", *[f"d_{k}" for k in range(1, n + 1)]])
    frame.to_csv(folder / "sales_wide.csv", index=False)
    return frame


def weekly_store_sales(folder: Path, seed: int = 13, stores: int = 3, depts: int = 4, weeks: int = 20) -> pd.DataFrame:
    """Walmart-like ``Store,Dept,Date,Weekly_Sales,IsHoliday`` with some negative weeks (returns)."""
    rng = np.random.default_rng(seed)
    first = date(2010, 2, 5)  # a Friday
    rows = []
    for week in range(weeks):
        for store in range(1, stores + 1):
            for dept in range(1, depts + 1):
                sales = float(rng.normal(1000 * dept, 300))
                if rng.random() < 0.08:
                    sales = -float(rng.uniform(5, 200))  # returns exceed sales this week
                rows.append((store, dept, (first + timedelta(weeks=week)).isoformat(), round(sales, 2),
                             "TRUE" if week % 13 == 0 else "FALSE"))
    frame = pd.DataFrame(rows, columns=["Store", "Dept", "Date", "Weekly_Sales", "IsHoliday"])
    frame.to_csv(folder / "weekly.csv", index=False)
    return frame


def card_transactions(folder: Path, seed: int = 17, n: int = 600, signals: int = 5) -> pd.DataFrame:
    """Kaggle-credit-card-like ``Time,V1..VK,Amount,Class``: seconds over two days, some zero amounts."""
    rng = np.random.default_rng(seed)
    time = np.sort(rng.uniform(0, 172_792, size=n)).round()
    fraud = rng.random(n) < 0.05
    amount = np.round(rng.lognormal(3, 1.2, size=n), 2)
    zero = rng.random(n) < np.where(fraud, 0.4, 0.02)  # card testing: zero-amount authorisations
    amount[zero] = 0.0
    frame = pd.DataFrame({"Time": time})
    for k in range(1, signals + 1):
        frame[f"V{k}"] = np.round(rng.normal(np.where(fraud, 2.0, 0.0), 1.0), 4)
    frame["Amount"] = amount
    frame["Class"] = fraud.astype(int)
    frame.to_csv(folder / "cards.csv", index=False)
    return frame


GENERATORS = {"clickstream": clickstream, "wide_panel": wide_panel, "weekly_sales": weekly_store_sales,
              "card_transactions": card_transactions}


def main(argv: list[str] | None = None) -> None:
    """``python -m tests.scenarios.generators NAME FOLDER [key=value ...]``: write scenario NAME's
    data and its mapping file (``FOLDER/NAME.yml``, the ``ECOMFLOW_SOURCE``) into FOLDER; integer
    and float keyword arguments override the generator's defaults (scripts/evaluate.sh)."""
    import shutil
    import sys

    args = sys.argv[1:] if argv is None else argv
    name, folder = args[0], Path(args[1])
    kwargs: dict[str, float | int] = {}
    for item in args[2:]:
        key, value = item.split("=", 1)
        kwargs[key] = float(value) if "." in value else int(value)
    folder.mkdir(parents=True, exist_ok=True)
    GENERATORS[name](folder, **kwargs)
    shutil.copy(Path(__file__).parent / "mappings" / f"{name}.yml", folder / f"{name}.yml")


if __name__ == "__main__":
    main()
