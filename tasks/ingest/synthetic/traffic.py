"""Who visits when, with which intent: the session table behind every event.

Seasonality is planted here: the expected number of sessions on a day is
``sessions_per_day * WEEKLY_MULTIPLIER[weekday] * yearly(day_of_year)`` and
session start hours follow ``HOURLY_PROFILE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.customers import Customers


@dataclass
class Sessions:
    day: np.ndarray  # window day index
    start: np.ndarray  # datetime64[ns], sorted
    user: np.ndarray  # user index, -1 for anonymous
    intent: np.ndarray  # index into C.INTENTS
    device: np.ndarray  # device index (users' own, or a fresh one)
    device_type: np.ndarray
    focus_category: np.ndarray
    is_new_device: np.ndarray  # legit sessions on a never-seen device

    def __len__(self) -> int:
        return len(self.day)


def expected_sessions(size: C.ShopSize, start: datetime) -> np.ndarray:
    """Expected sessions per window day: the planted weekly and yearly seasonality."""
    days = pd.date_range(start, periods=size.n_days, freq="D")
    weekly = np.array(C.WEEKLY_MULTIPLIER)[days.dayofweek]
    yearly = 1 + C.YEARLY_AMPLITUDE * np.cos(2 * np.pi * (days.dayofyear - C.YEARLY_PEAK_DAY_OF_YEAR) / 365.25)
    return np.asarray(size.sessions_per_day * weekly * yearly, dtype=float)


def build_sessions(rng: np.random.Generator, size: C.ShopSize, start: datetime,
                   customers: Customers, global_category_share: np.ndarray,
                   first_free_device: int) -> Sessions:
    counts = rng.poisson(expected_sessions(size, start))
    day = np.repeat(np.arange(size.n_days), counts)
    n = len(day)

    user = np.empty(n, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    for d in range(size.n_days):
        weight = np.where(customers.active_from_day <= d, customers.activity, 0.0)
        user[offsets[d]:offsets[d + 1]] = rng.choice(len(weight), size=counts[d], p=weight / weight.sum())
    anonymous = rng.random(n) < C.SHARE_ANONYMOUS_SESSIONS
    user[anonymous] = -1

    hour_p = np.array(C.HOURLY_PROFILE) / np.sum(C.HOURLY_PROFILE)
    seconds = rng.choice(24, size=n, p=hour_p) * 3600 + rng.integers(0, 3600, size=n)
    start_ts = (np.datetime64(start, "ns") + day.astype("timedelta64[D]").astype("timedelta64[ns]")
                + seconds.astype("timedelta64[s]").astype("timedelta64[ns]"))

    intent = rng.choice(len(C.INTENTS), size=n, p=C.INTENT_WEIGHTS)
    # Anonymous visitors cannot check out: their buy intent becomes compare.
    intent[anonymous & (intent == 2)] = 1

    known = user >= 0
    safe_user = np.where(known, user, 0)
    device = customers.devices[safe_user, rng.integers(0, 2, size=n)]
    is_new_device = known & (rng.random(n) < C.LEGIT_NEW_DEVICE_SHARE)
    fresh = ~known | is_new_device
    device[fresh] = first_free_device + np.arange(int(fresh.sum()))
    device_type = np.where(
        fresh,
        np.array(C.DEVICE_TYPES)[rng.choice(len(C.DEVICE_TYPES), size=n, p=C.DEVICE_TYPE_WEIGHTS)],
        customers.device_type[np.minimum(device, len(customers.device_type) - 1)],
    )
    pref = np.where(known[:, None], customers.preference[safe_user], global_category_share[None, :])
    focus = (pref.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
    focus = np.minimum(focus, pref.shape[1] - 1)

    order = np.argsort(start_ts, kind="stable")
    return Sessions(day[order], start_ts[order], user[order], intent[order], device[order],
                    device_type[order], focus[order], is_new_device[order])
