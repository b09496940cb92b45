"""rules-v1: the documented rules that score a payment when no model exists, and a baseline.

Scoring falls back to them (``model_version = 'rules-v1'``) on sources without fraud labels;
the recipe judges them on the same holdout as the model and may serve them instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tasks.train.risk.policy import _num, action_for, is_card_testing, label_for

# rules-v1: (name, test, weight). The score is the capped sum of the weights hit.
RULES: tuple[tuple[str, str, float], ...] = (
    ("card_testing", "n_distinct_cards_24h >= 3", 0.4),
    ("velocity_1h", "n_txn_1h >= 3", 0.3),
    ("amount_spike", "amount_to_user_mean >= 3", 0.3),
    ("new_device", "is_new_device", 0.2),
    ("rapid_repeat", "seconds_since_prev_txn < 60", 0.2),
    ("new_country", "is_new_country", 0.2),
    ("new_account", "account_age_days < 1", 0.1),
)
RULES_T_REVIEW = 0.3
RULES_T_BLOCK = 0.6


def rule_hits(frame: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per rule (nulls never hit a rule)."""
    big = np.inf
    return pd.DataFrame({
        "card_testing": _num(frame, "n_distinct_cards_24h", 0) >= 3,
        "velocity_1h": _num(frame, "n_txn_1h", 0) >= 3,
        "amount_spike": _num(frame, "amount_to_user_mean", 0) >= 3,
        "new_device": frame["is_new_device"].astype("boolean").fillna(False).to_numpy(dtype=bool),
        "rapid_repeat": _num(frame, "seconds_since_prev_txn", big) < 60,
        "new_country": frame["is_new_country"].astype("boolean").fillna(False).to_numpy(dtype=bool),
        "new_account": _num(frame, "account_age_days", big) < 1,
    }, index=frame.index)


def rules_score(frame: pd.DataFrame) -> np.ndarray:
    hits = rule_hits(frame)
    weights = np.array([w for _, _, w in RULES])
    return np.minimum(1.0, hits[[n for n, _, _ in RULES]].to_numpy(dtype=float) @ weights)


def rules_decisions(frame: pd.DataFrame) -> pd.DataFrame:
    """rules-v1 for every row: risk_score, label, action, reasons (top-3 rule hits by weight)."""
    score = rules_score(frame)
    hits = rule_hits(frame)
    names = [n for n, _, _ in RULES]  # already ordered by weight (desc)
    reasons = [", ".join([n for n in names if row[n]][:3]) for _, row in hits.iterrows()]
    label = label_for(score, RULES_T_REVIEW, RULES_T_BLOCK)  # rules-v1 keeps its fixed, documented cuts
    return pd.DataFrame({"transaction_id": frame["transaction_id"].to_numpy(), "risk_score": score,
                         "label": label, "action": action_for(label, is_card_testing(frame)),
                         "reasons": reasons})
