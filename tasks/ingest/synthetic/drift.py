"""The planted drifts of the synthetic shop (issue 11): what changes from window day ``day`` on.

Two kinds, both off by default and both applied so that the undrifted shop's random numbers are
untouched (``generate(drift_day=None)`` is byte-identical to a generator without the switch):

- ``price``: every shown price is ``config.DRIFT_PRICE_FACTOR`` higher (``catalog.py``); what
  people buy does not change, so a model's realised metrics do not either.
- ``popularity``: what people buy changes. From the drift day a share of the events of every
  other category moves to the *hot* category and most of the *cold* category's events move too
  (a trend and a fad that ends), so the hot category sells several times its usual units. The
  moves are drawn from their own stream ``default_rng([seed, config.DRIFT_STREAM])`` after the
  behaviour stream chose the categories, and the product draw inside a category takes the same
  uniform numbers either way, so every event before the drift day stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.vocabulary import CATEGORY_NAMES

PRICE, POPULARITY = "price", "popularity"
DRIFT_KINDS = (PRICE, POPULARITY)


@dataclass
class PopularityShift:
    """Moves event categories from window day ``day`` on (its own RNG stream, see the module)."""

    day: int
    rng: np.random.Generator
    hot: int = CATEGORY_NAMES.index(C.DRIFT_HOT_CATEGORY)
    cold: int = CATEGORY_NAMES.index(C.DRIFT_COLD_CATEGORY)

    def apply(self, category: np.ndarray, day: np.ndarray) -> np.ndarray:
        """``category`` (per event) after the shift; one uniform draw per event, drifted or not,
        so the stream's position never depends on the data."""
        u = self.rng.random(len(category))
        after = day >= self.day
        share = np.where(category == self.cold, C.DRIFT_COLD_SHARE_MOVED, C.DRIFT_HOT_SHARE_GAINED)
        moved = after & (category != self.hot) & (u < share)
        return np.where(moved, self.hot, category)


def check_kind(kind: str) -> str:
    """``kind`` if it is a known drift kind; a ValueError naming the known ones otherwise."""
    if kind not in DRIFT_KINDS:
        raise ValueError(f"drift_kind must be one of {DRIFT_KINDS}, got {kind!r}")
    return kind
