"""Events and order lines generated from sessions.

A session has ``n_pre`` browsing events (view/search/cart, mix by intent) and,
if it converts, a funnel per bought item (view, cart) followed by one purchase
event per item at checkout. Products are drawn per day and category with the
catalogue's demand weight, so promotions (lower price) attract more views,
carts and purchases through the planted elasticity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.ingest.schema import EVENT_TYPES
from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.catalog import Catalog
from tasks.ingest.synthetic.customers import Customers
from tasks.ingest.synthetic.drift import PopularityShift
from tasks.ingest.synthetic.traffic import Sessions
from tasks.ingest.synthetic.vocabulary import CATEGORIES

# The declared event types (tasks/ingest/schema.py), unpacked so the generator cannot emit one the
# loader would quarantine; a new type there fails this import until the generator handles it.
VIEW, CART, PURCHASE, SEARCH = EVENT_TYPES


@dataclass
class Behaviour:
    events: pd.DataFrame  # canonical columns, without event_id (assigned after fraud is added)
    order_lines: pd.DataFrame
    orders: pd.DataFrame  # one row per order: session index, user, device, checkout time, amount


class ProductSampler:
    """Draw products by (day, category) with the day's demand weights, vectorised per day."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.order = np.argsort(catalog.category, kind="stable")
        n_cat = len(CATEGORIES)
        self.bounds = np.searchsorted(catalog.category[self.order], np.arange(n_cat + 1))

    def sample(self, rng: np.random.Generator, day: np.ndarray, category: np.ndarray) -> np.ndarray:
        result = np.empty(len(day), dtype=np.int64)
        by_day = np.argsort(day, kind="stable")
        sorted_days = day[by_day]
        edges = np.searchsorted(sorted_days, np.arange(self.catalog.price.shape[1] + 1))
        u = rng.random(len(day))
        for d in range(len(edges) - 1):
            rows = by_day[edges[d]:edges[d + 1]]
            if len(rows) == 0:
                continue
            weight = self.catalog.demand_weight(d)[self.order]
            cum = np.cumsum(weight)
            before = np.concatenate([[0.0], cum])
            seg_start = before[self.bounds[:-1]]
            seg_total = before[self.bounds[1:]] - seg_start
            cat = category[rows]
            empty = seg_total[cat] <= 0  # no active product in that category today: any product
            target = np.where(empty, u[rows] * cum[-1], seg_start[cat] + u[rows] * seg_total[cat])
            idx = np.searchsorted(cum, target, side="right")
            idx = np.where(empty, idx, np.clip(idx, self.bounds[cat], self.bounds[cat + 1] - 1))
            result[rows] = self.order[np.minimum(idx, len(cum) - 1)]
        return result


def search_queries(rng: np.random.Generator, category: np.ndarray) -> list[str]:
    """Queries use the category's own words: 'adj noun', 'noun' or 'brand noun'."""
    picks = rng.random((len(category), 4))
    out = []
    for (p_kind, p_noun, p_adj, p_brand), cat_index in zip(picks, category, strict=True):
        cat = CATEGORIES[cat_index]
        noun = cat.nouns[int(p_noun * len(cat.nouns))]
        if p_kind < 0.5:
            out.append(f"{cat.adjectives[int(p_adj * len(cat.adjectives))]} {noun}")
        elif p_kind < 0.8:
            out.append(noun)
        else:
            out.append(f"{cat.brands[int(p_brand * len(cat.brands))].lower()} {noun}")
    return out


def _event_categories(rng: np.random.Generator, sessions: Sessions, s_idx: np.ndarray,
                      customers: Customers, global_share: np.ndarray) -> np.ndarray:
    user = sessions.user[s_idx]
    pref = np.where((user >= 0)[:, None], customers.preference[np.maximum(user, 0)], global_share[None, :])
    from_pref = np.minimum((pref.cumsum(axis=1) < rng.random(len(s_idx))[:, None]).sum(axis=1),
                           pref.shape[1] - 1)
    stays = (sessions.intent[s_idx] > 0) & (rng.random(len(s_idx)) < C.FOCUS_CATEGORY_STICKINESS)
    return np.where(stays, sessions.focus_category[s_idx], from_pref)


def build_behaviour(rng: np.random.Generator, sessions: Sessions, catalog: Catalog,
                    customers: Customers, global_share: np.ndarray,
                    shift: PopularityShift | None = None) -> Behaviour:
    """Events, order lines and orders; ``shift`` (planted popularity drift, None = none) moves
    event categories from its day on, with its own draws (``tasks/ingest/synthetic/drift.py``)."""
    n = len(sessions)
    intent = sessions.intent
    n_pre = np.array(C.INTENT_BASE_EVENTS)[intent] + rng.poisson(np.array(C.INTENT_EXTRA_EVENTS_MEAN)[intent])
    converts = (sessions.user >= 0) & (rng.random(n) < np.array(C.INTENT_CONVERSION)[intent])
    n_items = np.where(converts, 1 + rng.binomial(2, C.EXTRA_ITEMS_P, size=n), 0)
    sampler = ProductSampler(catalog)

    # Browsing events.
    pre_s = np.repeat(np.arange(n), n_pre)
    pre_pos = np.arange(len(pre_s)) - np.repeat(np.cumsum(n_pre) - n_pre, n_pre)
    mix = np.array(C.INTENT_EVENT_MIX)[intent[pre_s]].cumsum(axis=1)
    kind = np.minimum((mix < rng.random(len(pre_s))[:, None]).sum(axis=1), 2)
    pre_type = np.array([VIEW, SEARCH, CART])[kind]
    pre_cat = _event_categories(rng, sessions, pre_s, customers, global_share)
    if shift is not None:
        pre_cat = shift.apply(pre_cat, sessions.day[pre_s])
    pre_prod = sampler.sample(rng, sessions.day[pre_s], pre_cat)

    # Funnel of converting sessions: view + cart per item, then one purchase per item.
    item_s = np.repeat(np.arange(n), n_items)
    item_j = np.arange(len(item_s)) - np.repeat(np.cumsum(n_items) - n_items, n_items)
    item_cat = _event_categories(rng, sessions, item_s, customers, global_share)
    if shift is not None:
        item_cat = shift.apply(item_cat, sessions.day[item_s])
    item_prod = sampler.sample(rng, sessions.day[item_s], item_cat)
    base = n_pre[item_s]
    funnel_s = np.concatenate([item_s, item_s, item_s])
    funnel_pos = np.concatenate([base + 2 * item_j, base + 2 * item_j + 1, base + 2 * n_items[item_s] + item_j])
    funnel_type = np.repeat(np.array([VIEW, CART, PURCHASE]), len(item_s))
    funnel_prod = np.concatenate([item_prod, item_prod, item_prod])

    s_idx = np.concatenate([pre_s, funnel_s])
    pos = np.concatenate([pre_pos, funnel_pos])
    etype = np.concatenate([pre_type, funnel_type])
    prod = np.concatenate([pre_prod, funnel_prod])
    order = np.lexsort((pos, s_idx))
    s_idx, pos, etype, prod = s_idx[order], pos[order], etype[order], prod[order]

    # Time: exponential gaps; purchases of one order share the checkout instant.
    gaps = rng.exponential(C.MEAN_SECONDS_BETWEEN_EVENTS, size=len(s_idx))
    gaps[(pos == 0) | ((etype == PURCHASE) & (np.roll(etype, 1) == PURCHASE))] = 0.0
    cum = np.cumsum(gaps)
    first_of_session = np.searchsorted(s_idx, s_idx)
    offset = cum - cum[first_of_session]
    event_at = sessions.start[s_idx] + (offset * 1e9).astype("timedelta64[ns]")

    is_search = etype == SEARCH
    query = np.full(len(s_idx), None, dtype=object)
    query[is_search] = search_queries(rng, catalog.category[prod[is_search]])
    day = sessions.day[s_idx]
    price = catalog.price[prod, day]
    user = sessions.user[s_idx]
    events = pd.DataFrame({
        "session_id": _session_ids(s_idx),
        "user_id": np.where(user >= 0, customers.user_ids[np.maximum(user, 0)], None),
        "event_type": etype,
        "product_id": np.where(is_search, None, catalog.products["product_id"].to_numpy()[prod]),
        "query": query,
        "price": np.where(is_search, np.nan, price),
        "device": sessions.device_type[s_idx],
        "event_at": event_at,
    })

    bought = etype == PURCHASE
    b_s, b_prod, b_at = s_idx[bought], prod[bought], event_at[bought]
    line = np.arange(len(b_s)) - np.searchsorted(b_s, b_s)
    quantity = 1 + rng.poisson(C.EXTRA_UNITS_MEAN, size=len(b_s))
    unit_price = catalog.price[b_prod, sessions.day[b_s]]
    order_lines = pd.DataFrame({
        "order_id": _order_ids(b_s),
        "line_number": line + 1,
        "user_id": customers.user_ids[sessions.user[b_s]],
        "product_id": catalog.products["product_id"].to_numpy()[b_prod],
        "quantity": quantity,
        "unit_price": unit_price,
        "currency": C.CURRENCY,
        "country": customers.country[sessions.user[b_s]],
        "is_cancellation": False,
        "ordered_at": b_at,
    })
    amounts = pd.Series(quantity * unit_price).groupby(b_s).sum()
    first_line = line == 0
    orders = pd.DataFrame({
        "session": b_s[first_line],
        "order_id": _order_ids(b_s[first_line]),
        "user": sessions.user[b_s[first_line]],
        "device": sessions.device[b_s[first_line]],
        "checkout_at": b_at[first_line],
        "amount": np.round(amounts.loc[b_s[first_line]].to_numpy(), 2),
    })
    return Behaviour(events, order_lines, orders)


def _session_ids(index: np.ndarray) -> np.ndarray:
    return np.char.add("S", np.char.zfill((index + 1).astype(str), 8))


def _order_ids(session_index: np.ndarray) -> np.ndarray:
    return np.char.add("O", np.char.zfill((session_index + 1).astype(str), 8))
