"""Users with category preferences, devices, cards and home IPs.

Clear e-mail, name, IP and card values are dummies (``example.com`` addresses,
``10.0.0.0/8`` IPs, cards starting with the test prefix 400000); ingestion still
hashes them as if they were real, which is what the pipeline must do upstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.vocabulary import CATEGORIES, FIRST_NAMES, LAST_NAMES


@dataclass
class Customers:
    users: pd.DataFrame  # canonical ``users`` frame (clear email/name, hashed at ingestion)
    user_ids: np.ndarray
    signup_at: np.ndarray  # datetime64[ns]
    active_from_day: np.ndarray  # first window day with sessions
    country: np.ndarray  # country code per user
    preference: np.ndarray  # (n_users, n_categories), rows sum to 1
    activity: np.ndarray  # relative session rate
    devices: np.ndarray  # (n_users, 2) device index; column 1 == column 0 for one-device users
    device_type: np.ndarray  # device type name per device index
    cards: np.ndarray  # (n_users, 2) card number; column 1 == column 0 for one-card users
    payment_method: np.ndarray  # preferred method per user


def device_id(index: np.ndarray) -> np.ndarray:
    return np.char.add("D", np.char.zfill(index.astype(str), 7))


def ip_for(index: np.ndarray) -> np.ndarray:
    """A stable dummy private IP per integer (device or fraudster)."""
    index = index.astype(np.int64) + 1
    parts = [np.char.mod("%d", (index >> shift) & 255) for shift in (16, 8, 0)]
    return np.char.add(np.char.add(np.char.add(np.char.add(np.char.add("10.", parts[0]), "."), parts[1]), "."),
                       parts[2])


def card_number(index: np.ndarray) -> np.ndarray:
    return np.char.add("400000", np.char.zfill(index.astype(str), 10))


def build_customers(rng: np.random.Generator, size: C.ShopSize, start: datetime) -> Customers:
    n = size.n_users
    pre_existing = rng.random(n) < C.SHARE_USERS_PRE_EXISTING
    signup_day = np.where(
        pre_existing,
        rng.integers(-size.history_days, 0, size=n),
        rng.integers(0, max(1, size.n_days - 7), size=n),
    )
    signup_at = (pd.Timestamp(start) + pd.to_timedelta(signup_day, unit="D")
                 + pd.to_timedelta(rng.integers(0, 86_400, size=n), unit="s"))
    order = np.argsort(signup_at.to_numpy(), kind="stable")  # user ids increase with sign-up time
    signup_day, signup_at = signup_day[order], signup_at[order]

    country = np.array(C.COUNTRIES)[rng.choice(len(C.COUNTRIES), size=n, p=C.COUNTRY_WEIGHTS)]
    preference = rng.dirichlet(np.full(len(CATEGORIES), C.PREFERENCE_DIRICHLET_ALPHA), size=n)
    activity = rng.lognormal(0.0, 0.8, size=n)

    two_devices = rng.random(n) < C.SHARE_USERS_TWO_DEVICES
    first_device = np.arange(n) * 2
    devices = np.stack([first_device, np.where(two_devices, first_device + 1, first_device)], axis=1)
    device_type = np.array(C.DEVICE_TYPES)[rng.choice(len(C.DEVICE_TYPES), size=2 * n, p=C.DEVICE_TYPE_WEIGHTS)]
    two_cards = rng.random(n) < 0.2
    first_card = np.arange(n) * 2
    cards = card_number(np.stack([first_card, np.where(two_cards, first_card + 1, first_card)], axis=1))
    payment_method = np.array(C.PAYMENT_METHODS)[
        rng.choice(len(C.PAYMENT_METHODS), size=n, p=C.PAYMENT_METHOD_WEIGHTS)]

    user_ids = np.array([f"U{i:07d}" for i in range(1, n + 1)])
    first = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), size=n)]
    last = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), size=n)]
    users = pd.DataFrame({
        "user_id": user_ids,
        "signup_at": signup_at,
        "country": country,
        "email": [f"user{i:07d}@example.com" for i in range(1, n + 1)],
        "name": np.char.add(np.char.add(first, " "), last),
    })
    return Customers(users, user_ids, signup_at.to_numpy(), np.maximum(signup_day + 1, 0), country,
                     preference, activity, devices, device_type, cards, payment_method)
