"""Small input frames with a planted signal, shaped exactly like the contract tables.

Tests (and quick smoke runs of a recipe) need data where a model *can* beat its
baseline and where we know why. Each generator is deterministic by seed and
returns frames with the columns of the ``marts.*`` / ``features.*`` tables in
docs/CONTRACTS.md, so they can be written with ``replace_partition`` and read
back by the real recipes.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

DEVICES = ("desktop", "mobile", "tablet")


def fct_events(as_of: datetime, n_users: int = 120, n_items: int = 40, days: int = 30,
               events_per_user: int = 30, follow_prob: float = 0.8, seed: int = 0) -> pd.DataFrame:
    """Clickstream where the next item is usually the *successor* of the last one.

    Items form a cycle ``i -> i+1``; with ``follow_prob`` a user moves to the
    successor of the current item, otherwise to a random item. Popularity is
    flat, so only a sequence-aware model can beat it.
    """
    rng = np.random.default_rng(seed)
    rows = []
    start = as_of - timedelta(days=days)
    for u in range(n_users):
        times = np.sort(rng.uniform(0, days * 86400, size=events_per_user))
        item = int(rng.integers(n_items))
        for j, t in enumerate(times):
            if j and rng.random() < follow_prob:
                item = (item + 1) % n_items
            elif j:
                item = int(rng.integers(n_items))
            kind = rng.choice(["view", "cart", "purchase"], p=[0.7, 0.2, 0.1])
            at = start + timedelta(seconds=float(t))
            rows.append({"event_id": f"e{u}_{j}", "session_id": f"s{u}_{j // 10}", "user_id": f"u{u:03d}",
                         "event_type": str(kind), "product_id": f"p{item:03d}", "query": None,
                         "price": 10.0, "device": "mobile", "event_at": at, "event_date": at.date()})
    frame = pd.DataFrame(rows)
    frame["event_at"] = pd.to_datetime(frame["event_at"])
    return frame


def session_features(as_of_date: date, n: int = 2000, seed: int = 0,
                     as_of_hour: datetime | None = None) -> pd.DataFrame:
    """Sessions whose purchase odds depend non-linearly on carts x duration and on a
    mid-price band (shapes a linear baseline cannot express), plus noise features."""
    rng = np.random.default_rng(seed)
    end = datetime.combine(as_of_date, datetime.min.time())
    if as_of_hour is None:
        starts = end - timedelta(days=28) + pd.to_timedelta(np.sort(rng.uniform(0, 28 * 86400, n)), unit="s")
    else:
        starts = as_of_hour + pd.to_timedelta(np.sort(rng.uniform(0, 3600, n)), unit="s")
    n_views = rng.poisson(5, n) + 1
    n_carts = rng.binomial(3, 0.3, n)
    duration = rng.exponential(400, n)
    n_distinct = np.minimum(n_views, rng.poisson(3, n) + 1)
    price = rng.lognormal(3, 0.5, n)
    # Non-linear on purpose: carts only matter in long sessions, and buyers view mid-priced items.
    logit = (-3.5 + 2.5 * (n_carts >= 1) * (duration > 300) + 2.0 * (np.abs(np.log(price) - 3) < 0.3)
             + rng.normal(0, 0.3, n))
    label = rng.random(n) < 1 / (1 + np.exp(-logit))
    starts = pd.to_datetime(starts)
    # Point-in-time columns (CONTRACTS.md): the features end before the label is known, and
    # the label is known before the as-of instant.
    limit = pd.Timestamp(as_of_hour + timedelta(hours=1)) if as_of_hour is not None else \
        pd.Timestamp(datetime.combine(as_of_date, datetime.min.time()))
    label_at = pd.Series(starts + pd.to_timedelta(duration + 60, unit="s")).clip(upper=limit - pd.Timedelta(seconds=1))
    cutoff = pd.Series(starts + pd.to_timedelta(duration, unit="s")).clip(upper=label_at - pd.Timedelta(seconds=1))
    return pd.DataFrame({
        "session_id": [f"s{seed}_{i:05d}" for i in range(n)], "user_id": [f"u{i % 300:03d}" for i in range(n)],
        "session_start_at": starts, "n_events": n_views + n_carts, "n_views": n_views, "n_carts": n_carts,
        "n_searches": rng.poisson(1, n), "n_distinct_products": n_distinct,
        "n_distinct_categories": np.minimum(n_distinct, rng.poisson(1, n) + 1),
        "duration_seconds": duration, "mean_price_viewed": price,
        "hour_of_day": starts.hour, "day_of_week": starts.dayofweek,
        "device": rng.choice(DEVICES, n), "has_purchase": label,
        "feature_cutoff_at": cutoff.to_numpy(), "label_at": label_at.to_numpy(),
        "as_of_date": as_of_date, "as_of_hour": pd.Series([as_of_hour] * n, dtype="datetime64[ns]"),
    })


def daily_item_sales(as_of_date: date, n_products: int = 30, days: int = 90, seed: int = 0) -> pd.DataFrame:
    """Dense daily units per product: product-specific level x weekly pattern x Poisson noise."""
    rng = np.random.default_rng(seed)
    dates = [as_of_date - timedelta(days=days - i) for i in range(days)]
    rows = []
    for p in range(n_products):
        level = rng.uniform(2, 30)
        weekly = 1 + 0.6 * np.sin(2 * np.pi * (np.arange(7) + rng.integers(7)) / 7)
        price = rng.uniform(5, 50)
        for d in dates:
            promo = rng.random() < 0.05
            mu = level * weekly[d.weekday()] * (1.5 if promo else 1.0)
            units = int(rng.poisson(mu))
            rows.append({"product_id": f"p{p:03d}", "sales_date": d, "units": units,
                         "revenue": units * price * (0.8 if promo else 1.0),
                         "avg_price": price * (0.8 if promo else 1.0), "n_orders": units,
                         "is_promo": bool(promo)})
    frame = pd.DataFrame(rows)
    frame["as_of_date"] = as_of_date
    frame["as_of_hour"] = pd.Series([None] * len(frame), dtype="datetime64[ns]")
    return frame


def transaction_velocity(as_of_date: date, n: int = 2000, fraud_rate: float = 0.06, seed: int = 0,
                         as_of_hour: datetime | None = None, labelled: bool = True) -> pd.DataFrame:
    """Transactions where fraud = card testing (many cards / fast repeats) or a new device
    with an unusually large amount; noise elsewhere."""
    rng = np.random.default_rng(seed)
    end = datetime.combine(as_of_date, datetime.min.time())
    if as_of_hour is None:
        at = end - timedelta(days=28) + pd.to_timedelta(np.sort(rng.uniform(0, 28 * 86400, n)), unit="s")
    else:
        at = as_of_hour + pd.to_timedelta(np.sort(rng.uniform(0, 3600, n)), unit="s")
    fraud = rng.random(n) < fraud_rate
    kind = rng.random(n) < 0.5  # card testing vs account takeover
    n_1h = np.where(fraud & kind, rng.integers(3, 9, n), rng.poisson(0.3, n))
    cards = np.where(fraud & kind, rng.integers(2, 6, n), 1 + (rng.random(n) < 0.05))
    new_device = np.where(fraud & ~kind, rng.random(n) < 0.8, rng.random(n) < 0.15)
    ratio = np.where(fraud & ~kind, rng.uniform(2.5, 8, n), rng.lognormal(0, 0.5, n))
    amount = rng.lognormal(3.5, 0.7, n) * ratio
    since_prev = np.where(fraud & kind, rng.uniform(5, 120, n), rng.exponential(86400, n))
    return pd.DataFrame({
        "transaction_id": [f"t{seed}_{i:05d}" for i in range(n)], "user_id": [f"u{i % 400:03d}" for i in range(n)],
        "transaction_at": pd.to_datetime(at), "amount": amount, "n_txn_1h": n_1h,
        "n_txn_24h": n_1h + rng.poisson(1, n), "amount_sum_24h": amount * (1 + rng.poisson(1, n)),
        "n_distinct_cards_24h": cards, "n_distinct_devices_7d": 1 + new_device + (rng.random(n) < 0.1),
        "is_new_device": new_device, "is_new_country": rng.random(n) < 0.03,
        "amount_to_user_mean": ratio, "seconds_since_prev_txn": since_prev,
        "feature_cutoff_at": pd.to_datetime(at) - pd.to_timedelta(since_prev, unit="s"),
        "account_age_days": rng.integers(0, 1000, n).astype(float),
        "is_fraud": pd.Series(fraud if labelled else [None] * n, dtype="boolean"),
        "as_of_date": as_of_date, "as_of_hour": pd.Series([as_of_hour] * n, dtype="datetime64[ns]"),
    })


def session_events(as_of_date: date, n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(session_features rows, their fct_events) where only the *order* of events predicts a purchase.

    Every session has 2-6 views and exactly one cart, so the counts are identically
    distributed for buyers and non-buyers. Sessions that will buy (60 % of the
    "focused" ones) cart a product they viewed *right before*, and re-view it
    after the cart; the others cart at the start. Aggregates (and so LR/GBT on
    them) carry almost no signal; a sequence model does. Converting sessions end
    with a purchase event that must never reach the model (``build_sequences``).
    """
    rng = np.random.default_rng(seed)
    end = datetime.combine(as_of_date, datetime.min.time())
    starts = end - timedelta(days=28) + pd.to_timedelta(np.sort(rng.uniform(0, 28 * 86400, n)), unit="s")
    events, rows = [], []
    for i, start in enumerate(pd.to_datetime(starts)):
        sid, n_views = f"q{seed}_{i:05d}", int(rng.integers(2, 7))
        focused = rng.random() < 0.5
        buys = bool(focused and rng.random() < 0.6) or bool(not focused and rng.random() < 0.05)
        products = [f"p{int(rng.integers(50)):03d}" for _ in range(n_views)]
        kinds = ["view"] * n_views
        cart_product = products[-1] if focused else products[0]
        pos = n_views if focused else 0
        kinds.insert(pos, "cart")
        products.insert(pos, cart_product)
        kinds.append("view")  # both re-view the carted product: same distinct-product count
        products.append(cart_product)
        if buys:
            kinds.append("purchase")
            products.append(cart_product)
        t = start
        for j, (k, prod) in enumerate(zip(kinds, products, strict=True)):
            t = t + timedelta(seconds=float(rng.exponential(45)) + 1)
            events.append({"event_id": f"{sid}_{j:02d}", "session_id": sid, "user_id": f"u{i % 200:03d}",
                           "event_type": k, "product_id": prod, "query": None, "price": 20.0,
                           "device": "mobile", "event_at": t, "event_date": t.date()})
        pre = [e for e in events[-len(kinds):] if e["event_type"] != "purchase"]
        rows.append({
            "session_id": sid, "user_id": f"u{i % 200:03d}", "session_start_at": start,
            "n_events": len(pre), "n_views": sum(e["event_type"] == "view" for e in pre),
            "n_carts": 1, "n_searches": 0, "n_distinct_products": len({e["product_id"] for e in pre}),
            "n_distinct_categories": 1,
            "duration_seconds": (pre[-1]["event_at"] - pre[0]["event_at"]).total_seconds(),
            "mean_price_viewed": 20.0, "hour_of_day": start.hour, "day_of_week": start.dayofweek,
            "device": "mobile", "has_purchase": buys, "as_of_date": as_of_date,
        })
    frame = pd.DataFrame(rows)
    frame["as_of_hour"] = pd.Series([None] * len(frame), dtype="datetime64[ns]")
    ev = pd.DataFrame(events)
    ev["event_at"] = pd.to_datetime(ev["event_at"])
    return frame, ev


def daily_item_sales_pooled(as_of_date: date, n_products: int = 60, n_categories: int = 3, days: int = 90,
                            seed: int = 0) -> pd.DataFrame:
    """Low-volume daily units whose weekly pattern is shared by the products of a category,
    with wholesale-style prices; adds a ``category`` column (not in the contract).

    Planted signals a per-series baseline cannot use: at 0.3-4 units a day one item's
    own history is mostly Poisson noise, while its category's pattern is clear, so a
    model pooled over series beats seasonal naive / moving average / Holt-Winters
    fitted item by item. Prices: a list price per product, 15 % off on bulk days
    (units above the product's mean), so the *last* price is often a discounted one
    while the median price is stable.
    """
    rng = np.random.default_rng(seed)
    dates = [as_of_date - timedelta(days=days - i) for i in range(days)]
    patterns = [np.roll(np.array([0.3, 1.0, 1.6, 1.4, 1.2, 0.9, 0.6]), int(rng.integers(7)))
                for _ in range(n_categories)]
    rows = []
    for p in range(n_products):
        cat = p % n_categories
        level = rng.uniform(0.3, 4.0)
        list_price = rng.uniform(1, 20)
        for d in dates:
            mu = level * patterns[cat][d.weekday()]
            units = int(rng.poisson(mu))
            price = list_price * (0.85 if units > level else 1.0)
            rows.append({"product_id": f"p{p:03d}", "sales_date": d, "units": units, "revenue": units * price,
                         "avg_price": price if units else None, "n_orders": units, "is_promo": False,
                         "category": f"c{cat}"})
    frame = pd.DataFrame(rows)
    frame["as_of_date"] = as_of_date
    frame["as_of_hour"] = pd.Series([None] * len(frame), dtype="datetime64[ns]")
    return frame
