"""Products, list prices and promotions (the ``products`` and ``prices`` entities).

The catalogue also keeps a dense ``price[product, day]`` matrix: sessions look
up the price shown at event time there, and the demand weight of a product on
a day is ``popularity * (price / list_price) ** -elasticity`` - the planted
price elasticity that makes promotion days sell more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.vocabulary import CATEGORIES, CATEGORY_NAMES


@dataclass
class Catalog:
    products: pd.DataFrame  # canonical ``products`` frame
    prices: pd.DataFrame  # canonical ``prices`` frame
    category: np.ndarray  # category index per product
    list_price: np.ndarray
    popularity: np.ndarray
    active_from_day: np.ndarray  # first window day the product can be seen
    elasticity: np.ndarray  # per product (inherited from its category)
    price: np.ndarray  # (n_products, n_days) price shown on each window day
    promo: np.ndarray  # (n_products, n_days) bool
    # The price matrix before a planted hike (None: no drift). Demand follows it: a hike on every
    # product leaves the relative demand within a category as it was, and using the undrifted
    # prices exactly keeps a cent's rounding from moving a draw.
    undrifted_price: np.ndarray | None = None

    def demand_weight(self, day: int) -> np.ndarray:
        """Relative chance that a session picks each product on ``day``."""
        price = self.price if self.undrifted_price is None else self.undrifted_price
        ratio = price[:, day] / self.list_price
        weight = self.popularity * ratio ** (-self.elasticity)
        return np.where(self.active_from_day <= day, weight, 0.0)


def _titles(rng: np.random.Generator, category: np.ndarray) -> tuple[list[str], list[str], list[str]]:
    titles, descriptions, brands = [], [], []
    picks = rng.random((len(category), 6))
    for i, cat_index in enumerate(category):
        cat = CATEGORIES[cat_index]
        noun = cat.nouns[int(picks[i, 0] * len(cat.nouns))]
        adj = cat.adjectives[int(picks[i, 1] * len(cat.adjectives))]
        brand = cat.brands[int(picks[i, 2] * len(cat.brands))]
        f1 = cat.features[int(picks[i, 3] * len(cat.features))]
        f2 = cat.features[int(picks[i, 4] * len(cat.features))]
        model = 100 + int(picks[i, 5] * 900)
        titles.append(f"{brand} {adj} {noun} {model}")
        features = f1 if f1 == f2 else f"{f1}, {f2}"
        descriptions.append(
            f"{adj.capitalize()} {noun} from {brand}: {features}. "
            f"A {cat.name.replace('_', ' ')} favourite."
        )
        brands.append(brand)
    return titles, descriptions, brands


def _promotions(rng: np.random.Generator, active_from_day: np.ndarray, n_days: int,
                list_price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping promo episodes, with at least one normal-price day between two."""
    n = len(list_price)
    price = np.repeat(list_price[:, None], n_days, axis=1)
    promo = np.zeros((n, n_days), dtype=bool)
    remaining = np.zeros(n, dtype=int)
    discount = np.zeros(n)
    cooldown = np.zeros(n, dtype=bool)
    p_start = C.PROMO_STARTS_PER_PRODUCT_PER_WEEK / 7.0
    lo, hi = C.PROMO_LENGTH_DAYS
    for day in range(n_days):
        can_start = (remaining == 0) & ~cooldown & (active_from_day <= day)
        starts = can_start & (rng.random(n) < p_start)
        remaining[starts] = rng.integers(lo, hi + 1, size=int(starts.sum()))
        discount[starts] = rng.uniform(*C.PROMO_DISCOUNT, size=int(starts.sum()))
        on = remaining > 0
        promo[on, day] = True
        price[on, day] = np.round(list_price[on] * (1 - discount[on]), 2)
        ending = on & (remaining == 1)
        remaining[on] -= 1
        cooldown = ending
    return price, promo


def _price_rows(product_ids: np.ndarray, created_at: pd.Series, list_price: np.ndarray,
                price: np.ndarray, promo: np.ndarray, start: datetime,
                drift_day: int | None = None, active_from_day: np.ndarray | None = None) -> pd.DataFrame:
    """One row per price change: the listing price, each promo start and each promo end, and
    with a planted drift the hike on ``drift_day`` (products listed later list at the new price)."""
    listing = list_price
    if drift_day is not None:
        assert active_from_day is not None
        listing = np.where(active_from_day > drift_day, _hiked(list_price), list_price)
    first = pd.DataFrame({
        "product_id": product_ids, "price": listing, "is_promo": False,
        "valid_from": created_at.to_numpy(),
    })
    changed = np.zeros_like(promo)
    changed[:, 0] = promo[:, 0]
    changed[:, 1:] = promo[:, 1:] != promo[:, :-1]
    if drift_day is not None:
        assert active_from_day is not None
        changed[:, drift_day] |= active_from_day <= drift_day  # listed before: a price change now
    prod_idx, day_idx = np.nonzero(changed)
    changes = pd.DataFrame({
        "product_id": product_ids[prod_idx],
        "price": price[prod_idx, day_idx],
        "is_promo": promo[prod_idx, day_idx],
        "valid_from": pd.Timestamp(start) + pd.to_timedelta(day_idx, unit="D"),
    })
    rows = pd.concat([first, changes], ignore_index=True)
    return rows.sort_values(["valid_from", "product_id"], kind="stable").reset_index(drop=True)


def _hiked(price: np.ndarray) -> np.ndarray:
    """Prices after the planted hike (``C.DRIFT_PRICE_FACTOR``), to the cent."""
    return np.round(price * C.DRIFT_PRICE_FACTOR, 2)


def build_catalog(rng: np.random.Generator, size: C.ShopSize, start: datetime,
                  drift_day: int | None = None) -> Catalog:
    """The catalogue; ``drift_day`` (window day, None = no drift) plants the price hike of
    ``C.DRIFT_PRICE_FACTOR`` from that day on (see ``generate``)."""
    n = size.n_products
    category_share = rng.dirichlet(np.full(len(CATEGORIES), 5.0))
    category = rng.choice(len(CATEGORIES), size=n, p=category_share)
    medians = np.array([c.median_price for c in CATEGORIES])
    raw_price = medians[category] * rng.lognormal(0.0, 0.45, size=n)
    list_price = np.maximum(np.round(raw_price) - 0.01, 0.99)
    popularity = rng.lognormal(0.0, 1.0, size=n)
    cat_elasticity = rng.uniform(*C.ELASTICITY_RANGE, size=len(CATEGORIES))

    launched = rng.random(n) < C.SHARE_PRODUCTS_LAUNCHED_IN_WINDOW
    created_day = np.where(
        launched,
        rng.integers(1, max(2, size.n_days - 7), size=n),
        rng.integers(-size.history_days, 0, size=n),
    )
    created_at = (pd.Timestamp(start) + pd.to_timedelta(created_day, unit="D")
                  + pd.to_timedelta(rng.integers(0, 86_400, size=n), unit="s"))
    active_from_day = np.maximum(created_day + 1, 0)
    price, promo = _promotions(rng, active_from_day, size.n_days, list_price)
    undrifted = None
    if drift_day is not None:  # after every draw: the random numbers are those of the undrifted shop
        undrifted = price.copy()
        price[:, drift_day:] = _hiked(price[:, drift_day:])

    titles, descriptions, brands = _titles(rng, category)
    product_ids = np.array([f"P{i:06d}" for i in range(1, n + 1)])
    products = pd.DataFrame({
        "product_id": product_ids,
        "title": titles,
        "description": descriptions,
        "category": np.array(CATEGORY_NAMES)[category],
        "brand": brands,
        "price": list_price,
        "currency": C.CURRENCY,
        "created_at": created_at,
    })
    prices = _price_rows(product_ids, pd.Series(created_at), list_price, price, promo, start,
                         drift_day, active_from_day)
    return Catalog(products, prices, category, list_price, popularity, active_from_day,
                   cat_elasticity[category], price, promo, undrifted)


def window_end(start: datetime, size: C.ShopSize) -> datetime:
    return start + timedelta(days=size.n_days)
