"""Served purchase-intent scores vs whether the session bought: PR-AUC, Brier, ECE, and the
precision/recall of the served ``intent = 'buy'`` decision.

The outcome of a session is a purchase event in it (``marts.fct_events``) or the source's
``has_purchase`` (``marts.fct_session_summaries``). A session runs up to one day past the
scored hour, so the scores served on day ``E`` (all hours) are judged on monitoring day
``E + intent_lag_days``. Hourly partitions are scored per day: one hour holds too few
purchases for a PR-AUC. Every served score counts (a session scored in two hours is two
predictions, as it was served twice).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sklearn.metrics import precision_score, recall_score

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.train.metrics import brier_score, expected_calibration_error, pr_auc
from tasks.warehouse import connect, read_frame, table_exists

MODEL = "session_intent"
TABLE = "serving.session_intent"


def session_outcomes(session_ids: list[str]) -> pd.Series:
    """session_id -> bought (bool), for the sessions the warehouse knows; others are absent."""
    found: list[pd.Series] = []
    if table_exists("marts.fct_events"):
        with connect() as conn:
            stmt = sa.text("SELECT session_id, MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS b "
                           "FROM marts.fct_events WHERE session_id IN :ids GROUP BY session_id")
            rows = conn.execute(stmt.bindparams(sa.bindparam("ids", expanding=True)),
                                {"ids": list(session_ids)}).fetchall()
        found.append(pd.Series({str(s): bool(b) for s, b in rows}, dtype=bool))
    if table_exists("marts.fct_session_summaries"):
        summaries = read_frame("SELECT session_id, has_purchase FROM marts.fct_session_summaries "
                               "WHERE has_purchase IS NOT NULL")
        summaries = summaries[summaries["session_id"].astype(str).isin(set(session_ids))]
        found.append(pd.Series(summaries["has_purchase"].astype(bool).to_numpy(),
                               index=summaries["session_id"].astype(str)))
    found = [f for f in found if not f.empty]
    if not found:
        return pd.Series(dtype=bool)
    return pd.concat(found).groupby(level=0).max()


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    served_on = day - timedelta(days=cfg.intent_lag_days)
    end = day_start(day + timedelta(days=1))
    scores = served_rows(TABLE, "as_of_date = :d", {"d": served_on})
    if scores is None:
        return result.skip(f"{TABLE} does not exist")
    if scores.empty:
        return result.skip(f"no session intent served on {served_on} (judged {cfg.intent_lag_days} day(s) later)")
    missing = truth_missing([("marts.fct_events", "event_at"), ("marts.fct_session_summaries", "started_at")], end)
    if missing:
        return result.skip(missing)
    scores = scores.assign(session_id=scores["session_id"].astype(str))
    outcome = session_outcomes(sorted(set(scores["session_id"])))
    known = scores[scores["session_id"].isin(outcome.index)]
    if known.empty:
        return result.skip(f"none of the {len(scores)} sessions scored on {served_on} is in the marts")
    for version, part in known.groupby("model_version", sort=True):
        y = outcome.loc[part["session_id"]].to_numpy().astype(int)
        p = part["p_purchase"].to_numpy(dtype=float)
        buy = (part["intent"] == "buy").to_numpy()
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end, "n_rows": len(part)}
        result.add(metric="pr_auc", value=pr_auc(y, p), **common)
        result.add(metric="brier", value=brier_score(y, p), **common)
        result.add(metric="ece", value=expected_calibration_error(y, p), **common)
        result.add(metric="purchase_rate", value=float(np.mean(y)), **common)
        result.add(metric="buy_precision", value=float(precision_score(y, buy, zero_division=np.nan)), **common)
        result.add(metric="buy_recall", value=float(recall_score(y, buy, zero_division=np.nan)), **common)
    return result
