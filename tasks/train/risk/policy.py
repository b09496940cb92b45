"""The risk decision policy: probability bands -> label -> action, and reason texts.

The policy is written down for people in ``docs/risk_policy.md``; this module is
its executable form and ``tests/train/test_risk.py`` checks the two agree.

- ``block`` when the calibrated fraud probability is >= ``t_block``: the lowest
  cut that reached ``precision_target`` (90 %) on the validation slice;
- ``review`` when it is >= ``t_review``: the lowest cut that reached
  ``review_precision`` (50 %) on the validation slice;
- ``pass`` otherwise.

Actions: block -> ``freeze_account`` when the velocity looks like card testing
(>= 3 distinct cards in 24 h or >= 5 payments in 1 h: the account itself is being
used to try stolen cards, so stopping one payment does not stop the next) else
``intercept`` (hold this payment for step-up authentication); review -> ``warn``
(the payment goes through, the case enters the analyst queue); pass -> ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.train.metrics import best_f1_threshold, threshold_for_precision

LABELS = ("pass", "review", "block")
#: An analyst never gets a payment below this fraud probability, whatever the precision
#: curve says (with a sharp model the 50 %-precision cut can sit at p = 1e-8).
MIN_REVIEW_PROBABILITY = 0.05
ACTIONS = ("none", "warn", "intercept", "freeze_account")
CARD_TESTING_CARDS_24H = 3
CARD_TESTING_TXN_1H = 5


@dataclass(frozen=True)
class Thresholds:
    """Probability cuts of one scorer, chosen on its validation slice."""

    t_review: float
    t_block: float

    def to_dict(self) -> dict[str, float]:
        return {"t_review": self.t_review, "t_block": self.t_block}


def choose_thresholds(y_val: np.ndarray, p_val: np.ndarray, precision_target: float,
                      review_precision: float) -> Thresholds:
    """Cuts for the stated precision targets on validation rows (never the holdout).

    When no cut reaches ``precision_target`` nothing is blocked (``t_block`` = inf:
    a 90 % promise is not made on a guess); when none reaches ``review_precision``
    the review cut falls back to the F1-optimal one. ``t_review`` never exceeds ``t_block``.
    """
    t_block = threshold_for_precision(y_val, p_val, precision_target)
    t_review = threshold_for_precision(y_val, p_val, review_precision)
    if not np.isfinite(t_review):
        t_review = best_f1_threshold(y_val, p_val)
    if not np.isfinite(t_review):
        t_review = t_block
    t_review = max(t_review, MIN_REVIEW_PROBABILITY)
    return Thresholds(t_review=float(min(t_review, t_block)), t_block=float(t_block))


def _num(frame: pd.DataFrame, col: str, fill: float) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="coerce").astype(float).fillna(fill).to_numpy()


def is_card_testing(frame: pd.DataFrame) -> np.ndarray:
    """Velocity that looks like card testing: freeze the account rather than one payment."""
    return ((_num(frame, "n_distinct_cards_24h", 0) >= CARD_TESTING_CARDS_24H)
            | (_num(frame, "n_txn_1h", 0) >= CARD_TESTING_TXN_1H))


def label_for(score: np.ndarray, t_review: float, t_block: float) -> np.ndarray:
    s = np.asarray(score, dtype=float)
    return np.where(s >= t_block, "block", np.where(s >= t_review, "review", "pass"))


def action_for(label: np.ndarray, card_testing: np.ndarray) -> np.ndarray:
    label = np.asarray(label)
    return np.where(label == "block", np.where(card_testing, "freeze_account", "intercept"),
                    np.where(label == "review", "warn", "none"))


# ----------------------------------------------------------------- reasons ---
def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s"


def _count(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.1f}"


# column -> (template with the value, template with the typical value); typical = training median
_TEMPLATES: dict[str, tuple[str, str]] = {
    "n_distinct_cards_24h": ("{v} cards in 24 h", "typical {t}"),
    "n_txn_1h": ("{v} payments in 1 h", "typical {t}"),
    "n_txn_24h": ("{v} payments in 24 h", "typical {t}"),
    "n_distinct_devices_7d": ("{v} devices in 7 days", "typical {t}"),
    "amount": ("amount {v:.2f}", "typical {t:.2f}"),
    "amount_sum_24h": ("{v:.2f} spent in 24 h", "typical {t:.2f}"),
    "amount_to_user_mean": ("amount {v:.1f}x the user's average", "typical {t:.1f}x"),
    "account_age_days": ("account {v:.1f} days old", "typical {t:.0f} days"),
}


def reason_text(column: str, value: object, typical: float | None) -> str:
    """One human-readable reason, e.g. ``"3 cards in 24 h (typical 1)"``."""
    if column == "is_new_device":
        return "new device" if bool(value) else "known device"
    if column == "is_new_country":
        return "new country" if bool(value) else "usual country"
    v = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    if column == "user_segment":
        return f"user segment {value}"
    if column == "seconds_since_prev_txn":
        if pd.isna(v):
            return "first payment on record"
        text = f"{_duration(float(v))} since the previous payment"
        return text + (f" (typical {_duration(float(typical))})" if typical is not None else "")
    if pd.isna(v):
        return f"{column} unknown"
    if column in _TEMPLATES:
        main, typ = _TEMPLATES[column]
        counts = column.startswith("n_")
        text = main.format(v=_count(float(v)) if counts else float(v))
        if typical is not None:
            text += " (" + typ.format(t=_count(float(typical)) if counts else float(typical)) + ")"
        return text
    return f"{column}={value}"


def top_reasons(frame: pd.DataFrame, sources: list[str], attributions: np.ndarray,
                typical: dict[str, float], k: int = 3) -> list[str]:
    """The ``k`` source columns that pushed each row's score up most, as reason texts.

    ``attributions[:, j]`` belongs to model input ``j`` whose source column is
    ``sources[j]``; inputs of one column (one-hot levels, PLE bins, missing flags)
    are summed first so a column is named once. Only positive contributions count:
    a reason must be something that made the payment look riskier.
    """
    cols = list(dict.fromkeys(sources))
    per_col = np.zeros((len(frame), len(cols)))
    for j, src in enumerate(sources):
        per_col[:, cols.index(src)] += attributions[:, j]
    out = []
    for i in range(len(frame)):
        order = [j for j in np.argsort(-per_col[i], kind="stable")[:k] if per_col[i, j] > 0]
        out.append("; ".join(reason_text(cols[j], frame[cols[j]].iloc[i], typical.get(cols[j]))
                             for j in order))
    return out
