"""Payment attempts (``transactions``) for orders, plus three planted fraud patterns.

Legitimate payments use the customer's own device, card and country, with a
little noise (new phones, travel). Fraud (``is_fraud=True``, about
``TARGET_FRAUD_SHARE`` of all rows):

* ``card_testing``: a burst of small amounts within minutes, a different card
  on every attempt, one account, one new device/IP; no order.
* ``account_takeover``: an account older than 30 days with earlier purchases
  pays from a new device, a new IP and another country, a high amount, with
  the card on file.
* ``high_value_new_device``: an existing account, same country, a new device
  and a card never seen on the account, a high amount.

Account takeover and high-value fraud buy real (expensive) products, so they
also create a session, events and order lines.

One attack is not random: a card-testing burst in the demo hour (``DEMO_HOUR``, noon) of the
window's last complete day, the hourly partition ``make run`` scores. With ~25 payments a day and
2 % fraud, the demo's few hours would otherwise hold no payment worth a review, and the risk
review queue BI reads would stay empty in the demo. It is ordinary labelled fraud for training
and evaluation, drawn from its own seeded generator so every other row is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.catalog import Catalog
from tasks.ingest.synthetic.customers import Customers, card_number, device_id, ip_for
from tasks.partitions import DEMO_HOUR

FRAUD_DEVICE_BASE = 50_000_000  # fraudster devices/IPs/cards never collide with customers'
FRAUD_CARD_BASE = 5_000_000_000
DEMO_INCIDENT_SEED = 20260301  # the demo attack's own stream: the random fraud above is unchanged
DEMO_INCIDENT_ATTEMPTS = 8


@dataclass
class Payments:
    transactions: pd.DataFrame  # canonical columns (clear ip/card_number), without transaction_id
    fraud_events: pd.DataFrame
    fraud_order_lines: pd.DataFrame


def legit_transactions(rng: np.random.Generator, orders: pd.DataFrame, customers: Customers) -> pd.DataFrame:
    n = len(orders)
    user = orders["user"].to_numpy()
    device = orders["device"].to_numpy()
    method = customers.payment_method[user]
    card = customers.cards[user, rng.integers(0, 2, size=n)]
    uses_card = np.isin(method, ("card", "wallet"))
    country = customers.country[user].copy()
    travel = rng.random(n) < C.LEGIT_TRAVEL_SHARE
    others = np.array(C.COUNTRIES)
    shifted = (np.searchsorted(others, country, sorter=np.argsort(others)) + 1) % len(others)
    country[travel] = np.sort(others)[shifted[travel]]
    ip = ip_for(device)
    ip[travel] = ip_for(FRAUD_DEVICE_BASE // 2 + rng.integers(0, 1_000_000, size=int(travel.sum())))
    return pd.DataFrame({
        "order_id": orders["order_id"].to_numpy(),
        "user_id": customers.user_ids[user],
        "amount": orders["amount"].to_numpy(),
        "currency": C.CURRENCY,
        "payment_method": method,
        "device_id": device_id(device),
        "country": country,
        "ip": ip,
        "card_number": np.where(uses_card, card, None),
        "is_fraud": False,
        "fraud_pattern": None,
        "transaction_at": orders["checkout_at"].to_numpy()
        + (rng.uniform(2, 30, size=n) * 1e9).astype("timedelta64[ns]"),
    })


def _fraud_times(rng: np.random.Generator, n: int, start: datetime, n_days: int) -> np.ndarray:
    # Fraudsters keep no office hours: uniform over the day, unlike customers.
    seconds = rng.integers(C.FRAUD_MIN_DAY * 86_400, n_days * 86_400, size=n)
    return np.sort(np.datetime64(start, "ns") + seconds.astype("timedelta64[s]").astype("timedelta64[ns]"))


def _eligible(rng: np.random.Generator, mask_fn, times: np.ndarray, n_users: int) -> np.ndarray:
    """Pick one user per time among those for which ``mask_fn(t)`` holds (fallback: any)."""
    out = np.empty(len(times), dtype=np.int64)
    for i, t in enumerate(times):
        ok = np.flatnonzero(mask_fn(t))
        out[i] = rng.choice(ok) if len(ok) else rng.integers(0, n_users)
    return out


def _card_testing(rng: np.random.Generator, n_rows: int, start: datetime, n_days: int,
                  customers: Customers, next_fraud: int) -> tuple[pd.DataFrame, int]:
    lo, hi = C.CARD_TESTING_BURST_SIZE
    sizes: list[int] = []
    while sum(sizes) < max(n_rows, lo):
        remaining = max(n_rows, lo) - sum(sizes)
        # The last burst is trimmed so small shops do not overshoot the target share.
        sizes.append(max(lo, min(int(rng.integers(lo, hi + 1)), remaining)))
    burst_start = _fraud_times(rng, len(sizes), start, n_days)
    users = _eligible(rng, lambda t: customers.signup_at < t, burst_start, len(customers.user_ids))
    burst = np.repeat(np.arange(len(sizes)), sizes)
    n = len(burst)
    offsets = np.sort(rng.uniform(0, C.CARD_TESTING_BURST_MINUTES * 60, size=n))
    fraud_device = FRAUD_DEVICE_BASE + next_fraud + burst
    frame = pd.DataFrame({
        "order_id": None,
        "user_id": customers.user_ids[users[burst]],
        "amount": np.round(rng.uniform(*C.CARD_TESTING_AMOUNT, size=n), 2),
        "currency": C.CURRENCY,
        "payment_method": "card",
        "device_id": device_id(fraud_device),
        "country": np.array(C.COUNTRIES)[rng.integers(0, len(C.COUNTRIES), size=len(sizes))][burst],
        "ip": ip_for(fraud_device),
        "card_number": card_number(FRAUD_CARD_BASE + next_fraud * 100 + np.arange(n)),
        "is_fraud": True,
        "fraud_pattern": "card_testing",
        "transaction_at": burst_start[burst] + (offsets * 1e9).astype("timedelta64[ns]"),
    })
    frame = frame.sort_values("transaction_at", kind="stable").reset_index(drop=True)
    return frame, next_fraud + len(sizes)


def _fraud_purchases(rng: np.random.Generator, pattern: str, times: np.ndarray, users: np.ndarray,
                     catalog: Catalog, customers: Customers, start: datetime, first_session: int,
                     next_fraud: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Sessions buying 2-4 of the 10% most expensive products from a new device; (txns, events, lines)."""
    n = len(times)
    expensive = np.flatnonzero(catalog.list_price >= np.quantile(catalog.list_price, 0.9))
    n_items = rng.integers(2, 5, size=n)
    o = np.repeat(np.arange(n), n_items)
    j = np.arange(len(o)) - np.repeat(np.cumsum(n_items) - n_items, n_items)
    day = np.clip(((times - np.datetime64(start, "ns")) // np.timedelta64(1, "D")).astype(int),
                  0, catalog.price.shape[1] - 1)
    prod = np.empty(len(o), dtype=np.int64)
    for k in range(n):  # only products already listed on that day
        listed = expensive[catalog.active_from_day[expensive] <= day[k]]
        prod[o == k] = rng.choice(listed, size=int(n_items[k]))
    unit_price = catalog.price[prod, day[o]]
    quantity = rng.integers(1, 3, size=len(o))
    session_ids = np.char.add("S", np.char.zfill((first_session + np.arange(n) + 1).astype(str), 8))
    order_ids = np.char.add("O", np.char.zfill((first_session + np.arange(n) + 1).astype(str), 8))
    fraud_device = FRAUD_DEVICE_BASE + next_fraud + np.arange(n)
    device_type = np.array(C.DEVICE_TYPES)[rng.integers(0, len(C.DEVICE_TYPES), size=n)]
    product_ids = catalog.products["product_id"].to_numpy()

    # Events: view and cart per item 30 s apart, then all purchases at checkout.
    k = n_items[o]
    view_at = times[o] - ((2 * (k - j)) * 30).astype("timedelta64[s]").astype("timedelta64[ns]")
    cart_at = view_at + np.timedelta64(30, "s")
    events = pd.DataFrame({
        "session_id": np.tile(session_ids[o], 3),
        "user_id": np.tile(customers.user_ids[users[o]], 3),
        "event_type": np.repeat(["view", "cart", "purchase"], len(o)),
        "product_id": np.tile(product_ids[prod], 3),
        "query": None,
        "price": np.tile(unit_price, 3),
        "device": np.tile(device_type[o], 3),
        "event_at": np.concatenate([view_at, cart_at, times[o]]),
    })
    country = customers.country[users].copy()
    if pattern == "account_takeover":
        others = np.array(C.COUNTRIES)
        shift = rng.integers(1, len(others), size=n)
        idx = (np.searchsorted(np.sort(others), country, sorter=None) + shift) % len(others)
        country = np.sort(others)[idx]
        card = customers.cards[users, 0]  # the card on file
    else:
        card = card_number(FRAUD_CARD_BASE + 10_000_000 + next_fraud + np.arange(n))
    lines = pd.DataFrame({
        "order_id": order_ids[o],
        "line_number": j + 1,
        "user_id": customers.user_ids[users[o]],
        "product_id": product_ids[prod],
        "quantity": quantity,
        "unit_price": unit_price,
        "currency": C.CURRENCY,
        "country": customers.country[users[o]],
        "is_cancellation": False,
        "ordered_at": times[o],
    })
    amount = np.round(pd.Series(quantity * unit_price).groupby(o).sum().to_numpy(), 2)
    txns = pd.DataFrame({
        "order_id": order_ids,
        "user_id": customers.user_ids[users],
        "amount": amount,
        "currency": C.CURRENCY,
        "payment_method": "card",
        "device_id": device_id(fraud_device),
        "country": country,
        "ip": ip_for(fraud_device),
        "card_number": card,
        "is_fraud": True,
        "fraud_pattern": pattern,
        "transaction_at": times + (rng.uniform(2, 30, size=n) * 1e9).astype("timedelta64[ns]"),
    })
    return txns, events, lines


def build_payments(rng: np.random.Generator, orders: pd.DataFrame, customers: Customers, catalog: Catalog,
                   start: datetime, n_days: int, n_sessions: int) -> Payments:
    legit = legit_transactions(rng, orders, customers)
    n_fraud = round(C.TARGET_FRAUD_SHARE * len(legit) / (1 - C.TARGET_FRAUD_SHARE))
    shares = C.FRAUD_PATTERN_SHARES
    testing, next_fraud = _card_testing(rng, round(shares["card_testing"] * n_fraud), start, n_days,
                                        customers, next_fraud=0)

    first_txn = legit.groupby("user_id")["transaction_at"].min()
    user_first_txn = first_txn.reindex(customers.user_ids).to_numpy()
    min_age = np.timedelta64(C.ACCOUNT_TAKEOVER_MIN_ACCOUNT_AGE_DAYS, "D")

    ato_times = _fraud_times(rng, max(1, round(shares["account_takeover"] * n_fraud)), start, n_days)
    ato_users = _eligible(
        rng, lambda t: (customers.signup_at < t - min_age) & (user_first_txn < t), ato_times,
        len(customers.user_ids))
    ato, ato_events, ato_lines = _fraud_purchases(
        rng, "account_takeover", ato_times, ato_users, catalog, customers, start, n_sessions, next_fraud)
    next_fraud += len(ato_times)

    hv_times = _fraud_times(rng, max(1, round(shares["high_value_new_device"] * n_fraud)), start, n_days)
    hv_users = _eligible(rng, lambda t: customers.signup_at < t - np.timedelta64(1, "D"), hv_times,
                         len(customers.user_ids))
    hv, hv_events, hv_lines = _fraud_purchases(
        rng, "high_value_new_device", hv_times, hv_users, catalog, customers, start,
        n_sessions + len(ato_times), next_fraud)

    incident = _demo_incident(customers, start, n_days, next_fraud + len(hv_times))
    transactions = pd.concat([legit, testing, ato, hv, incident], ignore_index=True)
    return Payments(transactions, pd.concat([ato_events, hv_events], ignore_index=True),
                    pd.concat([ato_lines, hv_lines], ignore_index=True))


def _demo_incident(customers: Customers, start: datetime, n_days: int, next_fraud: int) -> pd.DataFrame:
    """The planted card-testing burst in the demo hour of the last complete day (module docstring):
    one established account, a new device, a different card on every attempt, within 25 minutes."""
    rng = np.random.default_rng(DEMO_INCIDENT_SEED)
    day = np.datetime64(start, "D") + np.timedelta64(n_days - 1, "D")
    burst_start = day + np.timedelta64(DEMO_HOUR, "h") + np.timedelta64(5, "m")
    veterans = np.flatnonzero(customers.signup_at < burst_start - np.timedelta64(30, "D"))
    user = rng.choice(veterans) if len(veterans) else 0
    n = DEMO_INCIDENT_ATTEMPTS
    offsets = np.sort(rng.uniform(0, 25 * 60, size=n))
    fraud_device = np.full(n, FRAUD_DEVICE_BASE + next_fraud)
    return pd.DataFrame({
        "order_id": None,
        "user_id": customers.user_ids[np.full(n, user)],
        "amount": np.round(rng.uniform(*C.CARD_TESTING_AMOUNT, size=n), 2),
        "currency": C.CURRENCY,
        "payment_method": "card",
        "device_id": device_id(fraud_device),
        "country": C.COUNTRIES[int(rng.integers(0, len(C.COUNTRIES)))],
        "ip": ip_for(fraud_device),
        "card_number": card_number(FRAUD_CARD_BASE + next_fraud * 100 + np.arange(n)),
        "is_fraud": True,
        "fraud_pattern": "card_testing",
        "transaction_at": burst_start.astype("datetime64[ns]") + (offsets * 1e9).astype("timedelta64[ns]"),
    })
