"""Served risk actions vs fraud labels once they arrive: precision and recall per action.

The payments of day ``E = D - fraud_label_delay_days`` (``serving.risk_labels``, all hours)
are judged on monitoring day ``D`` against ``marts.fct_transactions.is_fraud``. A payment
whose label is still null has no known truth and is left out; when none is labelled the
evaluation is skipped ("labels not arrived"). For each action other than ``none`` (warn,
intercept, freeze_account), precision = share of fraud among payments given that action and
recall = share of all labelled fraud given it; ``flagged`` is any action but ``none``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import sqlalchemy as sa
from sklearn.metrics import precision_score, recall_score

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows
from tasks.train.risk.policy import action_for
from tasks.warehouse import connect, table_exists

MODEL = "risk"
TABLE = "serving.risk_labels"
TRUTH = "marts.fct_transactions"
# Every action the policy can take except 'none' (read from the policy, not typed again).
ACTIONS = sorted({str(a) for a in action_for(np.array(["review", "block", "block"]),
                                             np.array([False, False, True]))})


def fraud_labels(transaction_ids: list[str]) -> dict[str, bool]:
    """transaction_id -> is_fraud for the payments whose label has arrived."""
    with connect() as conn:
        stmt = sa.text(f"SELECT transaction_id, is_fraud FROM {TRUTH} "
                       "WHERE transaction_id IN :ids AND is_fraud IS NOT NULL")
        rows = conn.execute(stmt.bindparams(sa.bindparam("ids", expanding=True)),
                            {"ids": transaction_ids}).fetchall()
    return {str(t): bool(f) for t, f in rows}


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    served_on = day - timedelta(days=cfg.fraud_label_delay_days)
    end = day_start(day + timedelta(days=1))
    labels = served_rows(TABLE, "as_of_date = :d", {"d": served_on})
    if labels is None:
        return result.skip(f"{TABLE} does not exist")
    if labels.empty:
        return result.skip(f"no risk labels served on {served_on}")
    if not table_exists(TRUTH):
        return result.skip(f"no truth: {TRUTH} does not exist (the source has no payments)")
    labels = labels.assign(transaction_id=labels["transaction_id"].astype(str))
    truth = fraud_labels(sorted(set(labels["transaction_id"])))
    known = labels[labels["transaction_id"].isin(truth.keys())]
    if known.empty:
        return result.skip(f"fraud labels not arrived for the {len(labels)} payments served on {served_on}")
    for version, part in known.groupby("model_version", sort=True):
        y = np.array([truth[t] for t in part["transaction_id"]], dtype=int)
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end, "n_rows": len(part)}
        result.add(metric="fraud_rate", value=float(y.mean()), **common)
        for action in [*ACTIONS, "flagged"]:
            chosen = (part["action"] != "none") if action == "flagged" else (part["action"] == action)
            chosen = chosen.to_numpy()
            result.add(metric=f"precision_{action}",
                       value=float(precision_score(y, chosen, zero_division=np.nan)), **common)
            result.add(metric=f"recall_{action}", value=float(recall_score(y, chosen, zero_division=np.nan)),
                       **common)
    return result
