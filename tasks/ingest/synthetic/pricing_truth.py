"""The synthetic shop's price response, exposed for checking the pricing model.

Nothing here draws a random number or changes a generated frame: ``catalog_of`` rebuilds the
catalogue from the same seed stream ``generate`` uses (stream 0, drawn first), so it is the
catalogue behind the shop's frames, and the functions below read the planted demand model
from it (docs/synthetic_ground_truth.md, "Price elasticity").

Demand model: a session picks a category without looking at prices, then a product in it
with weight ``w_i = popularity_i * (price_i / list_price_i) ** -e_c``. A product's expected
units are therefore ``D_c(day) * w_i / W_c`` (``W_c`` the category's total weight) and its
own-price elasticity at its list price is ``-e_c * (1 - s_i)`` with ``s_i = w_i / W_c``:
part of a price cut's uplift is taken from the product's category siblings, and the
category's total units do not respond to prices at all.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic.catalog import Catalog, build_catalog
from tasks.ingest.synthetic.config import DEFAULT_START, SIZES, ShopSize
from tasks.ingest.synthetic.vocabulary import CATEGORY_NAMES


def catalog_of(size: str | ShopSize = "S", seed: int = 42, start: datetime = DEFAULT_START) -> Catalog:
    """The catalogue of ``generate(size, seed, start)`` (same seed stream, nothing else drawn)."""
    shop_size = SIZES[size.upper()] if isinstance(size, str) else size
    stream = np.random.default_rng(np.random.SeedSequence(seed).spawn(7)[0])
    return build_catalog(stream, shop_size, start)


def _list_weights(catalog: Catalog, day: int) -> np.ndarray:
    return np.where(catalog.active_from_day <= day, catalog.popularity, 0.0)


def true_elasticities(catalog: Catalog, day: int | None = None) -> pd.DataFrame:
    """Per product: category, planted category elasticity ``-e_c`` and own-price elasticity
    ``-e_c * (1 - s_i)`` at list prices, ``s_i`` its share of the category's weight on ``day``
    (default: the window's last day)."""
    day = catalog.price.shape[1] - 1 if day is None else day
    w = _list_weights(catalog, day)
    total = np.bincount(catalog.category, weights=w, minlength=len(CATEGORY_NAMES))
    share = np.where(total[catalog.category] > 0, w / np.maximum(total[catalog.category], 1e-12), 0.0)
    return pd.DataFrame({
        "product_id": catalog.products["product_id"].to_numpy(),
        "category": catalog.products["category"].to_numpy(),
        "category_elasticity": -catalog.elasticity,
        "share_of_category": share,
        "own_elasticity": -catalog.elasticity * (1.0 - share),
    })


def expected_share(catalog: Catalog, day: int, prices: np.ndarray) -> np.ndarray:
    """Each product's expected share of its category's units on ``day`` at ``prices`` (P,)."""
    w = _list_weights(catalog, day) * (prices / catalog.list_price) ** (-catalog.elasticity)
    total = np.bincount(catalog.category, weights=w, minlength=len(CATEGORY_NAMES))
    return np.where(total[catalog.category] > 0, w / np.maximum(total[catalog.category], 1e-12), 0.0)


def own_price_units_ratio(catalog: Catalog, day: int, base: np.ndarray, proposed: np.ndarray) -> np.ndarray:
    """E[units at proposed] / E[units at base] per product when only that product's price
    moves from ``base`` to ``proposed`` (every other product stays at ``base``): the simulator's
    answer to "what if we change this one price"."""
    w_base = _list_weights(catalog, day) * (base / catalog.list_price) ** (-catalog.elasticity)
    total = np.bincount(catalog.category, weights=w_base, minlength=len(CATEGORY_NAMES))[catalog.category]
    w_new = _list_weights(catalog, day) * (proposed / catalog.list_price) ** (-catalog.elasticity)
    others = total - w_base
    with np.errstate(all="ignore"):
        ratio = (w_new / (others + w_new)) / (w_base / total)
    return np.where(np.isfinite(ratio), ratio, 1.0)


def joint_units_ratio(catalog: Catalog, day: int, base: np.ndarray, proposed: np.ndarray) -> np.ndarray:
    """The same ratio when every price moves to ``proposed`` at once (siblings react too)."""
    with np.errstate(all="ignore"):
        ratio = expected_share(catalog, day, proposed) / expected_share(catalog, day, base)
    return np.where(np.isfinite(ratio), ratio, 1.0)
