"""Transaction risk: MLP fraud score -> pass/review/block, action and reasons.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.risk import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: the daily ``features.transaction_velocity`` partition valid at
   ``as_of_date`` (transactions in ``[as_of - DAILY_ROW_WINDOW_DAYS, as_of)``), label ``is_fraud``.
   Sources without fraud labels (all null) are not trained on: the run is
   skipped with a clear log line and scoring uses the rules below (``rules-v1``).
2. Holdout: the latest ``holdout_share`` of transactions by ``transaction_at``.
3. Model: MLP on log-scaled velocity/amount features (``TabularSpec``), plain BCE.
4. Baseline: the rules score (``rules-v1``). Metric: PR-AUC (fraud is rare, so
   ROC-AUC flatters; PR-AUC is what the review queue feels).

Decision (model and rules alike): ``block`` if score >= t_block, ``review`` if
>= t_review, else ``pass``. Actions: block -> ``intercept``, or
``freeze_account`` when the velocity looks like card testing (>= 3 distinct
cards in 24h or >= 5 transactions in 1h); review -> ``warn``; pass -> ``none``.
Reasons: the model's top-3 features by gradient x input (standardised inputs,
so relative to an average transaction), or the top-3 rule hits by weight.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import torch

from tasks.features.windows import DAILY_ROW_WINDOW_DAYS
from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainResult,
    as_of_instant,
    config_from_dict,
    pick_device,
    setup_torch,
)
from tasks.train.data import read_daily_features
from tasks.train.metrics import pr_auc, roc_auc
from tasks.train.recipe import save_and_register
from tasks.train.tabular import (
    BinaryMLP,
    TabularClassifierConfig,
    TabularSpec,
    input_attributions,
    predict_proba,
    time_holdout,
    train_binary,
)

log = logging.getLogger(__name__)

MODEL_NAME = "risk"
MAIN_METRIC = "pr_auc"
RULES_VERSION = "rules-v1"
FEATURE_TABLE = "features.transaction_velocity"
FEATURE_WINDOW_DAYS = DAILY_ROW_WINDOW_DAYS  # the daily feature partition's row window (CONTRACTS.md)
LABELS = ("pass", "review", "block")

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


@dataclass(frozen=True)
class RiskConfig(TabularClassifierConfig):
    batch_size: int = 256
    weight_decay: float = 1e-4
    min_rows: int = 200
    min_positives: int = 10
    t_review: float = 0.3
    t_block: float = 0.8

    def validate(self) -> None:
        super().validate()
        if self.min_positives < 1:
            raise ValueError("min_positives must be >= 1")
        if not 0 < self.t_review < self.t_block <= 1:
            raise ValueError("thresholds must satisfy 0 < t_review < t_block <= 1")


def new_spec() -> TabularSpec:
    return TabularSpec(
        log_cols=("amount", "n_txn_1h", "n_txn_24h", "amount_sum_24h", "n_distinct_cards_24h",
                  "n_distinct_devices_7d", "amount_to_user_mean", "seconds_since_prev_txn",
                  "account_age_days"),
        bool_cols=("is_new_device", "is_new_country"),
        missing_cols=("seconds_since_prev_txn", "account_age_days"),
    )


# ------------------------------------------------------------- decisions ----
def _num(frame: pd.DataFrame, col: str, fill: float) -> np.ndarray:
    return pd.to_numeric(frame[col], errors="coerce").astype(float).fillna(fill).to_numpy()


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


def is_card_testing(frame: pd.DataFrame) -> np.ndarray:
    """Velocity that looks like card testing: freeze the account rather than one payment."""
    return (_num(frame, "n_distinct_cards_24h", 0) >= 3) | (_num(frame, "n_txn_1h", 0) >= 5)


def label_for(score: np.ndarray, t_review: float, t_block: float) -> np.ndarray:
    s = np.asarray(score, dtype=float)
    return np.where(s >= t_block, "block", np.where(s >= t_review, "review", "pass"))


def action_for(label: np.ndarray, card_testing: np.ndarray) -> np.ndarray:
    label = np.asarray(label)
    return np.where(label == "block", np.where(card_testing, "freeze_account", "intercept"),
                    np.where(label == "review", "warn", "none"))


def _fmt(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return "null" if np.isnan(f) else f"{f:.4g}"


def rules_decisions(frame: pd.DataFrame) -> pd.DataFrame:
    """rules-v1 for every row: risk_score, label, action, reasons (top-3 rule hits by weight)."""
    score = rules_score(frame)
    hits = rule_hits(frame)
    names = [n for n, _, _ in RULES]  # already ordered by weight (desc)
    reasons = [", ".join([n for n in names if row[n]][:3]) for _, row in hits.iterrows()]
    label = label_for(score, RULES_T_REVIEW, RULES_T_BLOCK)
    return pd.DataFrame({"transaction_id": frame["transaction_id"].to_numpy(), "risk_score": score,
                         "label": label, "action": action_for(label, is_card_testing(frame)),
                         "reasons": reasons})


# ----------------------------------------------------------------- model ----
@dataclass
class Fitted:
    model: BinaryMLP
    spec: TabularSpec
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    holdout: pd.DataFrame
    loss_history: list[float]


def evaluate_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"pr_auc": pr_auc(y, p), "roc_auc": roc_auc(y, p), "positive_rate": float(np.mean(y)),
            "n_holdout": float(len(y))}


def labels_present(frame: pd.DataFrame) -> bool:
    return "is_fraud" in frame and frame["is_fraud"].notna().any()


def fit_and_evaluate(frame: pd.DataFrame, cfg: RiskConfig, device: torch.device) -> Fitted:
    data = frame[frame["is_fraud"].notna()]
    if len(data) < cfg.min_rows:
        raise ValueError(f"only {len(data)} labelled transactions (< min_rows={cfg.min_rows})")
    train_df, hold_df = time_holdout(data, "transaction_at", "transaction_id", cfg.holdout_share)
    y_train = train_df["is_fraud"].astype(bool).to_numpy().astype(float)
    y_hold = hold_df["is_fraud"].astype(bool).to_numpy().astype(float)
    if y_train.sum() < cfg.min_positives or y_hold.sum() < 1:
        raise ValueError(f"too few frauds: {int(y_train.sum())} in training, {int(y_hold.sum())} in holdout")
    setup_torch(cfg)
    spec = new_spec().fit(train_df)
    model, history = train_binary(spec.transform(train_df), y_train, cfg.hidden, cfg.dropout, cfg, device)
    metrics = evaluate_scores(y_hold, predict_proba(model, spec.transform(hold_df), device))
    baseline_metrics = evaluate_scores(y_hold, rules_score(hold_df))
    return Fitted(model, spec, metrics, baseline_metrics, hold_df, history)


def load_model(art: Artefact, device: torch.device) -> tuple[BinaryMLP, TabularSpec, RiskConfig]:
    cfg = config_from_dict(RiskConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    model = BinaryMLP(len(spec.feature_names), cfg.hidden, cfg.dropout)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec, cfg


def top_reasons(frame: pd.DataFrame, spec: TabularSpec, attributions: np.ndarray, k: int = 3) -> list[str]:
    """The k source columns that pushed each score up most, as ``col=value`` text."""
    sources = [src for _, src in spec.features()]
    cols = list(dict.fromkeys(sources))
    per_col = np.zeros((len(frame), len(cols)))
    for j, src in enumerate(sources):
        per_col[:, cols.index(src)] += attributions[:, j]
    out = []
    for i in range(len(frame)):
        order = [j for j in np.argsort(-per_col[i], kind="stable")[:k] if per_col[i, j] > 0]
        out.append(", ".join(f"{cols[j]}={_fmt(frame[cols[j]].iloc[i])}" for j in order))
    return out


def predict(art: Artefact, frame: pd.DataFrame, device: torch.device) -> pd.DataFrame:
    """risk_score, label, action, reasons for every row with the artefact's thresholds."""
    model, spec, cfg = load_model(art, device)
    if frame.empty:
        return pd.DataFrame(columns=["transaction_id", "risk_score", "label", "action", "reasons"])
    x = spec.transform(frame)
    score = predict_proba(model, x, device)
    label = label_for(score, cfg.t_review, cfg.t_block)
    return pd.DataFrame({
        "transaction_id": frame["transaction_id"].to_numpy(), "risk_score": score, "label": label,
        "action": action_for(label, is_card_testing(frame)),
        "reasons": top_reasons(frame.reset_index(drop=True), spec, input_attributions(model, x, device)),
    })


def train(as_of_date: date, run_id: str, cfg: RiskConfig | None = None) -> TrainResult:
    """Recipe: velocity partition -> (labels?) -> time holdout -> MLP vs rules-v1 -> register."""
    cfg = cfg or RiskConfig()
    device = pick_device()
    frame, found = read_daily_features(FEATURE_TABLE, as_of_date)
    if found is None or frame.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    found_end = as_of_instant(found)
    window = DataWindow(found_end - timedelta(days=FEATURE_WINDOW_DAYS), found_end)
    if not labels_present(frame):
        return TrainResult.skipped(
            MODEL_NAME, f"{FEATURE_TABLE} ({found}) has no is_fraud labels; not training. "
            f"Scoring falls back to the documented rules ({RULES_VERSION}).", window)
    try:
        fitted = fit_and_evaluate(frame, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, f"{exc}; scoring uses {RULES_VERSION} until a model exists",
                                   window)
    y_hold = fitted.holdout["is_fraud"].astype(bool).to_numpy().astype(float)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        champ, spec, _ = load_model(art, device)
        return evaluate_scores(y_hold, predict_proba(champ, spec.transform(fitted.holdout), device))

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.spec.to_dict(), metrics=fitted.metrics,
        baselines={RULES_VERSION: fitted.baseline_metrics}, main_metric=MAIN_METRIC,
        higher_is_better=True, evaluate_champion=evaluate_champion,
        extra_metrics={"loss_history": fitted.loss_history, "feature_partition": found.isoformat()},
    )
