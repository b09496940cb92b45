"""Past marketing campaigns with randomised hold-outs: the ``campaign_exposures`` entity.

Every ``CAMPAIGN_EVERY_DAYS`` from ``CAMPAIGN_FIRST_DAY`` one campaign promotes one category on
one channel to a random share of the users who had signed up; each of them is *treated* (sent
the message) or kept as *control* at random. Whether the user converts (buys in the target
category within ``CAMPAIGN_ATTRIBUTION_DAYS``) follows the planted truth in ``config``: a baseline
that grows with the user's preference for the category and activity ("buys anyway"), plus, for
treated users, an effect that depends on a truth segment and the channel (documented in
docs/synthetic_ground_truth.md). The row is reported when the attribution window closes
(``reported_at``, the entity's time column), so a partition never holds an outcome from its future.

The conversions live in this entity only (what a campaign platform's attribution report
carries); they are not added to ``order_lines``, which keeps every other entity byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic import config as C
from tasks.ingest.synthetic.customers import Customers
from tasks.ingest.synthetic.vocabulary import CATEGORY_NAMES


@dataclass
class CampaignHistory:
    exposures: pd.DataFrame  # canonical ``campaign_exposures`` frame
    truth: pd.DataFrame  # campaign_id, user_id, truth_segment, base_rate, true_uplift (not an entity)


def truth_segment(affinity: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """The planted segment of each (user, target category): see ``config.CAMPAIGN_UPLIFT``."""
    fan = affinity >= C.CAMPAIGN_FAN_AFFINITY
    return np.where(fan & (activity < C.CAMPAIGN_ACTIVE), "lapsed_fan",
                    np.where(fan, "loyal_fan",
                             np.where(activity >= C.CAMPAIGN_HEAVY, "heavy_non_fan", "indifferent")))


def base_rate(affinity: np.ndarray, activity: np.ndarray) -> np.ndarray:
    z = C.CAMPAIGN_BASE_LOGIT + C.CAMPAIGN_BASE_AFFINITY * affinity + C.CAMPAIGN_BASE_ACTIVITY * np.log(activity)
    return 1.0 / (1.0 + np.exp(-z))


def build_campaigns(rng: np.random.Generator, size: C.ShopSize, start: datetime,
                    customers: Customers) -> CampaignHistory:
    """All campaigns whose attribution window closes inside the generated window."""
    rows, truth = [], []
    days = range(C.CAMPAIGN_FIRST_DAY, size.n_days - C.CAMPAIGN_ATTRIBUTION_DAYS, C.CAMPAIGN_EVERY_DAYS)
    for number, day in enumerate(days, start=1):
        sent_at = pd.Timestamp(start) + pd.Timedelta(days=day, hours=C.CAMPAIGN_SEND_HOUR)
        category = int(rng.integers(0, len(CATEGORY_NAMES)))
        channel = int(rng.choice(len(C.CAMPAIGN_CHANNELS), p=C.CAMPAIGN_CHANNEL_WEIGHTS))
        eligible = np.flatnonzero(customers.signup_at < sent_at.to_datetime64())
        n = min(int(round(C.CAMPAIGN_AUDIENCE_SHARE * len(eligible))), C.CAMPAIGN_MAX_AUDIENCE)
        users = np.sort(rng.choice(eligible, size=n, replace=False))
        treated = rng.random(n) < C.CAMPAIGN_TREATED_SHARE
        affinity = customers.preference[users, category]
        activity = customers.activity[users]
        segment = truth_segment(affinity, activity)
        p0 = base_rate(affinity, activity)
        tau = np.array([C.CAMPAIGN_UPLIFT[s] for s in segment]) * C.CAMPAIGN_CHANNEL_EFFECT[channel]
        p = np.clip(p0 + np.where(treated, tau, 0.0), 0.0, 1.0)
        converted = rng.random(n) < p
        delay = pd.to_timedelta(rng.integers(0, C.CAMPAIGN_ATTRIBUTION_DAYS * 86_400, size=n), unit="s")
        campaign_id = f"C{number:04d}"
        rows.append(pd.DataFrame({
            "campaign_id": campaign_id,
            "user_id": customers.user_ids[users],
            "channel": C.CAMPAIGN_CHANNELS[channel],
            "target_category": CATEGORY_NAMES[category],
            "is_treated": treated,
            "exposed_at": sent_at,
            "converted_at": pd.Series(sent_at + delay).where(converted),
            "reported_at": sent_at + pd.Timedelta(days=C.CAMPAIGN_ATTRIBUTION_DAYS),
        }))
        truth.append(pd.DataFrame({"campaign_id": campaign_id, "user_id": customers.user_ids[users],
                                   "truth_segment": segment, "base_rate": p0, "true_uplift": tau}))
    columns = ["campaign_id", "user_id", "channel", "target_category", "is_treated", "exposed_at",
               "converted_at", "reported_at"]
    exposures = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    return CampaignHistory(exposures[columns], pd.concat(truth, ignore_index=True) if truth else pd.DataFrame())
