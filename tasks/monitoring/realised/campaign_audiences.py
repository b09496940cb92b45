"""Served campaign audiences vs the conversions of the days after: realised uplift where the
campaign platform kept a random hold-out, and the audience's conversion otherwise.

An audience served on ``A`` (``serving.campaign_audiences``) is judged on ``[A, A + W)``
(``RealisedConfig.campaign_window_days``, the attribution window) on the day it closes, once
``marts.fct_order_lines`` reaches it. One row per (model version, served partition, metric),
summed over the partition's campaigns.

Randomised truth (when ``campaign_exposures`` holds rows of a served campaign sent in the
window: each exposed user treated or held out at random, with the attributed conversion):

- ``realised_uplift_selected``: conversion rate of the treated minus the held-out users *among
  the selected*; ``realised_uplift_not_selected``: the same among exposed users the audience
  left out (the model's targeting works when the first is the larger);
- ``incremental_conversions``: per campaign, the selected users' realised uplift x their
  treated count, summed; ``expected_incremental_conversions``: the served expected uplift of
  the same treated users, summed (how well the served uplift was calibrated).

Without exposures the uplift is **not measurable** (nobody knows what the selected users would
have done unsent) and is not written; a note says so. What is measurable either way, and
written: ``conversion_rate_selected`` and ``conversion_rate_not_selected`` -- the share of the
selected / of the other users signed up before ``A`` who bought in the campaign's target
categories (``campaigns.yml`` as it reads now, the scorer's targets) within the window -- and
their difference ``conversion_lift_vs_not_selected``. That is an observational comparison (it
rewards picking people who buy anyway), a check of the targeting, not of the uplift.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.score.campaign_audiences import campaign_targets
from tasks.train.uplift.campaigns import DEFAULT_FILE, load_campaigns
from tasks.train.uplift.features import EXPOSURE_TABLES, ORDERS_TABLE, PRODUCTS_TABLE, USERS_TABLE
from tasks.warehouse import read_frame, table_exists

MODEL = "campaign_uplift"
TABLE = "serving.campaign_audiences"


def target_buyers(campaign_ids: list[str], start: date, end: date) -> tuple[dict[str, set[str]], list[str]]:
    """Per campaign, the users who bought (not cancelled) in its target categories in ``[start, end)``,
    and the campaigns the campaign file no longer defines (not judged)."""
    defined = {c.campaign_id: c for c in load_campaigns(DEFAULT_FILE)}
    products = read_frame(f"SELECT product_id, category FROM {PRODUCTS_TABLE}") if table_exists(PRODUCTS_TABLE) \
        else pd.DataFrame(columns=["product_id", "category"])
    categories = products.drop_duplicates("product_id").set_index("product_id")["category"]
    lines = read_frame(f"SELECT l.user_id, lower(p.category) AS category FROM {ORDERS_TABLE} AS l "
                       f"JOIN {PRODUCTS_TABLE} AS p ON l.product_id = p.product_id "
                       "WHERE NOT l.is_cancellation AND l.ordered_at >= :s AND l.ordered_at < :e",
                       {"s": day_start(start), "e": day_start(end)})
    out, unknown = {}, []
    for cid in campaign_ids:
        if cid not in defined:
            unknown.append(cid)
            continue
        targets = set(campaign_targets(defined[cid], categories))
        out[cid] = set(lines.loc[lines["category"].isin(targets), "user_id"].astype(str))
    return out, unknown


def randomised(exposures: pd.DataFrame, served: pd.DataFrame) -> dict[str, float]:
    """Realised uplift of selected vs not-selected exposed users (module docstring)."""
    chosen = set(zip(served["campaign_id"], served["user_id"], strict=True))
    uplift = served.set_index(["campaign_id", "user_id"])["expected_uplift"]
    e = exposures.assign(selected=[k in chosen for k in zip(exposures["campaign_id"], exposures["user_id"],
                                                             strict=True)])

    def lift(rows: pd.DataFrame) -> float:
        t, c = rows[rows["is_treated"]], rows[~rows["is_treated"]]
        return float(t["converted"].mean() - c["converted"].mean()) if len(t) and len(c) else float("nan")

    sel = e[e["selected"]]
    incremental, expected = 0.0, 0.0
    for cid, rows in sel.groupby("campaign_id"):
        treated = rows[rows["is_treated"]]
        incremental += lift(rows) * len(treated) if len(treated) else 0.0
        expected += float(uplift.loc[[(cid, u) for u in treated["user_id"]]].sum())
    return {"realised_uplift_selected": lift(sel), "realised_uplift_not_selected": lift(e[~e["selected"]]),
            "incremental_conversions": incremental, "expected_incremental_conversions": expected}


def read_window_exposures(campaign_ids: list[str], start: date, end: date) -> pd.DataFrame | None:
    """Exposures of the served campaigns sent in ``[start, end)`` with conversions before ``end``."""
    table = next((t for t in EXPOSURE_TABLES if table_exists(t)), None)
    if table is None:
        return None
    frame = read_frame(f"SELECT campaign_id, user_id, is_treated, converted_at FROM {table} "
                       "WHERE exposed_at >= :s AND exposed_at < :e", {"s": day_start(start), "e": day_start(end)})
    frame = frame[frame["campaign_id"].astype(str).isin(set(campaign_ids))].drop_duplicates(
        ["campaign_id", "user_id"], keep="last")
    converted_at = pd.to_datetime(frame["converted_at"])
    return frame.assign(campaign_id=frame["campaign_id"].astype(str), user_id=frame["user_id"].astype(str),
                        is_treated=frame["is_treated"].astype(bool),
                        converted=(converted_at.notna() & (converted_at < day_start(end))).astype(float))


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    served_on = day + timedelta(days=1) - timedelta(days=cfg.campaign_window_days)
    served = served_rows(TABLE, "as_of_date = :a", {"a": served_on})
    if served is None:
        return result.skip(f"{TABLE} does not exist")
    if served.empty:
        return result.skip(f"no campaign audience served on {served_on} (judged on the "
                           f"{cfg.campaign_window_days} days ending {day})")
    end_day = day + timedelta(days=1)
    end = day_start(end_day)
    missing = truth_missing([(ORDERS_TABLE, "ordered_at")], end)
    if missing:
        return result.skip(missing)
    absent = [t for t in (PRODUCTS_TABLE, USERS_TABLE) if not table_exists(t)]
    if absent:
        return result.skip(f"{' / '.join(absent)} missing: the campaigns' target categories or eligible users "
                           "are unknown")
    served = served.assign(campaign_id=served["campaign_id"].astype(str), user_id=served["user_id"].astype(str))
    ids = sorted(served["campaign_id"].unique())
    buyers, unknown = target_buyers(ids, served_on, end_day)
    if unknown:
        result.notes.append(f"campaign(s) {unknown} no longer in {DEFAULT_FILE.name}: their targets are unknown, "
                            "conversion not judged")
    users = read_frame(f"SELECT user_id FROM {USERS_TABLE} WHERE signup_at < :a", {"a": day_start(served_on)})
    eligible = set(users["user_id"].astype(str))
    exposures = read_window_exposures(ids, served_on, end_day)
    if exposures is None or exposures.empty:
        note = (f"no randomised exposures of campaigns {ids} sent in [{served_on}, {end_day}): realised uplift "
                "not measurable; observational conversion only")
        result.notes.append(note)
    for version, part in served.groupby("model_version", sort=True):
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end}
        judged = part[part["campaign_id"].isin(set(buyers))]
        hits, n_sel, other_hits, n_other = 0, 0, 0, 0
        for cid, rows in judged.groupby("campaign_id"):
            selected = set(rows["user_id"])
            others = eligible - selected
            hits += len(selected & buyers[cid])
            n_sel += len(selected)
            other_hits += len(others & buyers[cid])
            n_other += len(others)
        rate_sel = hits / n_sel if n_sel else float("nan")
        rate_other = other_hits / n_other if n_other else float("nan")
        result.add(metric="conversion_rate_selected", value=rate_sel, n_rows=n_sel, **common)
        result.add(metric="conversion_rate_not_selected", value=rate_other, n_rows=n_other, **common)
        result.add(metric="conversion_lift_vs_not_selected", value=rate_sel - rate_other, n_rows=n_sel, **common)
        if exposures is None or exposures.empty:
            continue
        mine = exposures[exposures["campaign_id"].isin(set(part["campaign_id"]))]
        for metric, value in randomised(mine, part).items():
            result.add(metric=metric, value=value, n_rows=len(mine), **common)
    return result
