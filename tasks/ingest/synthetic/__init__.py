"""Synthetic shop with planted, documented ground truth (``docs/synthetic_ground_truth.md``).

``generate(size, seed, start)`` returns a :class:`SyntheticShop` whose frames
use canonical column names (plus clear dummy PII, which ingestion hashes, and
a ``fraud_pattern`` column on transactions for evaluation). The same seed
always yields identical frames: every component draws from its own child of
one ``numpy.random.SeedSequence``, so changing one component does not shift
the random numbers of the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config
from tasks.ingest.synthetic.behaviour import build_behaviour
from tasks.ingest.synthetic.campaigns import build_campaigns
from tasks.ingest.synthetic.catalog import build_catalog
from tasks.ingest.synthetic.config import DEFAULT_START, SIZES, ShopSize
from tasks.ingest.synthetic.customers import build_customers
from tasks.ingest.synthetic.drift import DRIFT_KINDS, POPULARITY, PRICE, PopularityShift, check_kind
from tasks.ingest.synthetic.inventory import build_inventory
from tasks.ingest.synthetic.payments import build_payments
from tasks.ingest.synthetic.search import build_search_impressions
from tasks.ingest.synthetic.traffic import build_sessions

__all__ = ["DEFAULT_START", "DRIFT_KINDS", "SIZES", "ShopSize", "SyntheticShop", "generate", "config"]

ENTITY_ORDER = ("users", "products", "prices", "inventory", "events", "order_lines", "transactions",
                "campaign_exposures", "search_impressions")


@dataclass
class SyntheticShop:
    size: ShopSize
    seed: int
    start: datetime
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Per-session truth (not a canonical entity): session_id, user_id, intent, is_new_device.
    session_truth: pd.DataFrame | None = None
    # Per-exposure truth (not a canonical entity): campaign_id, user_id, truth_segment, base_rate, true_uplift.
    campaign_truth: pd.DataFrame | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.size.n_days)

    def __getitem__(self, entity: str) -> pd.DataFrame:
        return self.frames[entity]


def generate(size: str | ShopSize = "S", seed: int = 42, start: datetime = DEFAULT_START,
             drift_day: int | None = None, drift_kind: str = PRICE) -> SyntheticShop:
    """Generate the whole shop for ``[start, start + n_days)`` (sign-ups and listings start earlier).

    ``drift_day`` plants a drift for monitoring to find (issue 11; ``ECOMFLOW_SYNTHETIC_DRIFT_DAY``
    through the source) from window day ``drift_day`` (0 = ``start``), of ``drift_kind``
    (``tasks/ingest/synthetic/drift.py``):

    - ``"price"`` (the default kind): every shown price is ``config.DRIFT_PRICE_FACTOR`` times
      higher, so amounts, unit prices and the price features built from them shift while
      sessions and what is bought stay as they were;
    - ``"popularity"``: what is bought shifts: the hot category (``config.DRIFT_HOT_CATEGORY``)
      gains a share of every other category's events and most of the cold one's, so its units
      sold multiply while the cold category's collapse; prices stay as they were.

    Either is applied after (price) or beside (popularity, its own stream) the random draws, so
    the shop is the undrifted one before that day, and ``drift_day=None`` (the default) gives
    exactly the frames of a generator without the switch, whatever ``drift_kind`` says.
    """
    shop_size = SIZES[size.upper()] if isinstance(size, str) else size
    if drift_day is not None and not 1 <= drift_day < shop_size.n_days:
        raise ValueError(f"drift_day must be a window day in [1, {shop_size.n_days - 1}] for size "
                         f"{shop_size.name} ({shop_size.n_days} days), got {drift_day}")
    check_kind(drift_kind)
    price_day = drift_day if drift_kind == PRICE else None
    shift = (PopularityShift(drift_day, np.random.default_rng([seed, config.DRIFT_STREAM]))
             if drift_day is not None and drift_kind == POPULARITY else None)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    catalog = build_catalog(streams[0], shop_size, start, price_day)
    customers = build_customers(streams[1], shop_size, start)
    global_share = np.bincount(catalog.category, minlength=customers.preference.shape[1]).astype(float)
    global_share /= global_share.sum()
    sessions = build_sessions(streams[2], shop_size, start, customers, global_share,
                              first_free_device=2 * shop_size.n_users)
    behaviour = build_behaviour(streams[3], sessions, catalog, customers, global_share, shift)
    payments = build_payments(streams[4], behaviour.orders, customers, catalog, start,
                              shop_size.n_days, len(sessions))

    events = pd.concat([behaviour.events, payments.fraud_events], ignore_index=True)
    events = events.sort_values(["event_at", "session_id"], kind="stable").reset_index(drop=True)
    events.insert(0, "event_id", np.char.add("E", np.char.zfill(np.arange(1, len(events) + 1).astype(str), 9)))
    order_lines = pd.concat([behaviour.order_lines, payments.fraud_order_lines], ignore_index=True)
    order_lines = order_lines.sort_values(["ordered_at", "order_id", "line_number"], kind="stable")
    order_lines = order_lines.reset_index(drop=True)
    transactions = payments.transactions.sort_values("transaction_at", kind="stable").reset_index(drop=True)
    transactions.insert(0, "transaction_id",
                        np.char.add("T", np.char.zfill(np.arange(1, len(transactions) + 1).astype(str), 8)))
    inventory = build_inventory(streams[5], catalog, order_lines, start, shop_size.n_days)
    # Its own stream (tasks/ingest/synthetic/search.py), after every other entity: they stay as they were.
    search_impressions = build_search_impressions(seed, events, catalog, customers, start)

    known = sessions.user >= 0
    session_truth = pd.DataFrame({
        "session_id": np.char.add("S", np.char.zfill(np.arange(1, len(sessions) + 1).astype(str), 8)),
        "user_id": np.where(known, customers.user_ids[np.maximum(sessions.user, 0)], None),
        "intent": np.array(config.INTENTS)[sessions.intent],
        "is_new_device": sessions.is_new_device,
    })
    # Own stream (not a child of the SeedSequence above): adding it moved no other entity's draws.
    campaigns = build_campaigns(np.random.default_rng([seed, config.CAMPAIGN_STREAM]), shop_size, start, customers)
    frames = {
        "users": customers.users,
        "products": catalog.products,
        "prices": catalog.prices,
        "inventory": inventory,
        "events": events,
        "order_lines": order_lines,
        "transactions": transactions,
        "campaign_exposures": campaigns.exposures,
        "search_impressions": search_impressions,
    }
    for frame in frames.values():
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                # Millisecond precision: what every warehouse and Parquet reader keeps exactly.
                frame[column] = frame[column].dt.floor("ms")
    return SyntheticShop(shop_size, seed, start, frames, session_truth, campaigns.truth)
