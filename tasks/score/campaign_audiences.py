"""Daily campaign audiences: for every campaign of ``campaigns.yml`` active on the day, the users
with the highest expected *incremental* conversion, up to the campaign's budget.

Candidates are the users signed up before the as-of instant (``marts.dim_users``); their
features are computed as of that instant with the campaign's targets (its categories plus the
categories of its target products, ``marts.dim_products``). Rows are ranked by expected uplift
(ties: user_id) and the top ``budget`` with a positive expected uplift are kept: a user whom the
model expects the message to put off ("sleeping dog") is never selected to fill the budget.

Each row carries the expected uplift, the propensity (P(convert | sent)), the rank, the user's
rule segment and the inputs that drove the uplift (``reason``), ``model_version`` and
``run_id``. The champion may be a served baseline (``campaign_uplift-baseline_<name>-...``,
registered when it beat the net on the holdout: tasks/train/uplift/__init__.py); then its
expected uplift and propensity fill the rows, ``reason`` names the baseline and
``model_version`` says which version served. ``user_id`` is the shop's pseudonymous id, as in every serving table; e-mail and
name only exist as keyed hashes (``dim_users.email_hash``), which the dbt view adds for
activation. A re-run replaces the day's partition.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pandas as pd

from tasks.score.common import SERVING_SCHEMAS, daily_scored_at, load_serving_model, write_serving
from tasks.train.common import as_of_instant, pick_device
from tasks.train.uplift import predict
from tasks.train.uplift.campaigns import DEFAULT_FILE, Campaign, active_campaigns
from tasks.train.uplift.features import LOOKBACK_DAYS, PRODUCTS_TABLE, USERS_TABLE, History
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

TABLE = "serving.campaign_audiences"


def campaign_targets(campaign: Campaign, categories: pd.Series) -> tuple[str, ...]:
    """The campaign's categories plus those of its target products (``categories``: product -> category)."""
    from_products = [str(categories[p]).lower() for p in campaign.target_products if p in categories.index]
    unknown = [p for p in campaign.target_products if p not in categories.index]
    if unknown:
        log.warning("campaign %s: target product(s) %s not in %s; ignored", campaign.campaign_id, unknown,
                    PRODUCTS_TABLE)
    return tuple(sorted({*campaign.target_categories, *from_products}))


def candidate_rows(campaigns: list[Campaign], as_of_date: date) -> pd.DataFrame:
    """One row per (active campaign, user signed up before the as-of instant)."""
    end = as_of_instant(as_of_date)
    users = (read_frame(f"SELECT user_id FROM {USERS_TABLE} WHERE signup_at < :e ORDER BY user_id", {"e": end})
             if table_exists(USERS_TABLE) else pd.DataFrame(columns=["user_id"]))
    products = (read_frame(f"SELECT product_id, category FROM {PRODUCTS_TABLE}") if table_exists(PRODUCTS_TABLE)
                else pd.DataFrame(columns=["product_id", "category"]))
    categories = products.drop_duplicates("product_id").set_index("product_id")["category"]
    parts = [pd.DataFrame({"campaign_id": c.campaign_id, "campaign_name": c.name, "channel": c.channel,
                           "budget": c.budget, "user_id": users["user_id"].astype(str).to_numpy(),
                           "at": pd.Timestamp(end), "targets": [campaign_targets(c, categories)] * len(users)})
             for c in campaigns]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def select_audiences(scored: pd.DataFrame) -> pd.DataFrame:
    """Per campaign: positive expected uplift, best first (ties by user_id), at most ``budget`` rows."""
    if scored.empty:
        return scored.assign(rank=pd.Series(dtype="int64"))
    ranked = scored[scored["expected_uplift"] > 0].sort_values(
        ["campaign_id", "expected_uplift", "user_id"], ascending=[True, False, True], kind="stable")
    ranked["rank"] = ranked.groupby("campaign_id").cumcount() + 1
    return ranked[ranked["rank"] <= ranked["budget"]].reset_index(drop=True)


def score_campaign_audiences(as_of_date: date, run_id: str, *, rescore: bool = False,
                             campaigns_file: Path | str = DEFAULT_FILE) -> int:
    """Write the ``as_of_date`` partition of serving.campaign_audiences; returns rows written."""
    entry, art = load_serving_model(TABLE, as_of_date, rescore=rescore)
    log.info("%s %s: served by %s (%s)", TABLE, as_of_date, entry.version, art.serving_strategy)
    campaigns = active_campaigns(as_of_date, campaigns_file)  # a bad file fails here, naming the key
    rows = candidate_rows(campaigns, as_of_date)
    if rows.empty:
        # Clears the day's partition: yesterday's audience must not look like today's.
        log.warning("%s %s: no active campaign or no users; writing an empty partition", TABLE, as_of_date)
        scored = pd.DataFrame(columns=[*SERVING_SCHEMAS[TABLE], "budget"])
    else:
        end = as_of_instant(as_of_date)
        history = History.read(end - pd.Timedelta(days=LOOKBACK_DAYS), end)
        features = history.features(rows)
        scored = pd.concat([features, predict(art, features, pick_device())], axis=1)
    out = select_audiences(scored)
    out = out.assign(as_of_date=as_of_date, model_version=entry.version, run_id=run_id,
                     scored_at=daily_scored_at(as_of_date))
    return write_serving(TABLE, out, {"as_of_date": as_of_date}, model_version=entry.version, run_id=run_id)
