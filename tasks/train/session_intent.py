"""Session purchase intent: MLP -> p_purchase, plus a browse/compare/buy intent rule.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.session_intent import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: the daily ``features.session_features`` partition valid at
   ``as_of_date`` (sessions started in ``[as_of - DAILY_ROW_WINDOW_DAYS, as_of)``), label ``has_purchase``.
   Features use only events before a session's first purchase (contract), so
   the label cannot leak in.
2. Holdout: the latest ``holdout_share`` of sessions by ``session_start_at``.
3. Model: MLP on log-counts, cyclic hour/day, device one-hot (``TabularSpec``),
   plain BCE so p_purchase stays a calibrated probability.
4. Baseline: scikit-learn logistic regression on the same matrix.
5. Metrics: ROC-AUC (main) and PR-AUC.

Intent rule (applied at scoring, parameters stored in the artefact):
``buy`` if p_purchase >= ``buy_threshold``; else ``compare`` if the session
viewed/carted at least ``compare_min_products`` distinct products; else ``browse``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression

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
    predict_proba,
    time_holdout,
    train_binary,
)

log = logging.getLogger(__name__)

MODEL_NAME = "session_intent"
MAIN_METRIC = "roc_auc"
BASELINE = "logistic_regression"
FEATURE_TABLE = "features.session_features"
INTENTS = ("browse", "compare", "buy")
FEATURE_WINDOW_DAYS = DAILY_ROW_WINDOW_DAYS  # the daily feature partition's row window (CONTRACTS.md)


@dataclass(frozen=True)
class SessionIntentConfig(TabularClassifierConfig):
    buy_threshold: float = 0.5
    compare_min_products: int = 3

    def validate(self) -> None:
        super().validate()
        if not 0 < self.buy_threshold < 1:
            raise ValueError("buy_threshold must be in (0, 1)")
        if self.compare_min_products < 2:
            raise ValueError("compare_min_products must be >= 2 (comparing needs two products)")


def new_spec() -> TabularSpec:
    """The (unfitted) feature transformation of session_features."""
    return TabularSpec(
        log_cols=("n_events", "n_views", "n_carts", "n_searches", "n_distinct_products",
                  "n_distinct_categories", "duration_seconds", "mean_price_viewed"),
        missing_cols=("mean_price_viewed",),
        cyclic={"hour_of_day": 24, "day_of_week": 7},
        categorical={"device": []},
    )


def classify_intent(p_purchase: np.ndarray, n_distinct_products: np.ndarray, buy_threshold: float,
                    compare_min_products: int) -> np.ndarray:
    """The documented rule: buy >= threshold, else compare on several distinct products, else browse."""
    p = np.asarray(p_purchase, dtype=float)
    distinct = np.nan_to_num(np.asarray(pd.to_numeric(pd.Series(n_distinct_products), errors="coerce"),
                                        dtype=float), nan=0.0)
    return np.where(p >= buy_threshold, "buy", np.where(distinct >= compare_min_products, "compare", "browse"))


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["has_purchase"].notna()].copy() if "has_purchase" in frame else frame.iloc[0:0]


@dataclass
class Fitted:
    model: BinaryMLP
    spec: TabularSpec
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    holdout: pd.DataFrame
    loss_history: list[float]


def evaluate_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"roc_auc": roc_auc(y, p), "pr_auc": pr_auc(y, p), "positive_rate": float(np.mean(y)),
            "n_holdout": float(len(y))}


def fit_and_evaluate(frame: pd.DataFrame, cfg: SessionIntentConfig, device: torch.device) -> Fitted:
    """Time split, fit MLP and logistic baseline on the same matrix, score the holdout."""
    data = labelled(frame)
    if len(data) < cfg.min_rows:
        raise ValueError(f"only {len(data)} labelled sessions (< min_rows={cfg.min_rows})")
    train_df, hold_df = time_holdout(data, "session_start_at", "session_id", cfg.holdout_share)
    y_train = train_df["has_purchase"].astype(bool).to_numpy().astype(float)
    y_hold = hold_df["has_purchase"].astype(bool).to_numpy().astype(float)
    if len(set(y_train)) < 2 or len(set(y_hold)) < 2:
        raise ValueError("training or holdout sessions contain a single class; AUC is undefined")
    setup_torch(cfg)
    spec = new_spec().fit(train_df)
    x_train, x_hold = spec.transform(train_df), spec.transform(hold_df)
    model, history = train_binary(x_train, y_train, cfg.hidden, cfg.dropout, cfg, device)
    metrics = evaluate_scores(y_hold, predict_proba(model, x_hold, device))
    baseline = LogisticRegression(max_iter=2000).fit(x_train, y_train)
    baseline_metrics = evaluate_scores(y_hold, baseline.predict_proba(x_hold)[:, 1])
    return Fitted(model, spec, metrics, baseline_metrics, hold_df, history)


def load_model(art: Artefact, device: torch.device) -> tuple[BinaryMLP, TabularSpec, SessionIntentConfig]:
    cfg = config_from_dict(SessionIntentConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    model = BinaryMLP(len(spec.feature_names), cfg.hidden, cfg.dropout)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec, cfg


def predict(art: Artefact, frame: pd.DataFrame, device: torch.device) -> pd.DataFrame:
    """p_purchase and intent for every row of a session_features frame."""
    model, spec, cfg = load_model(art, device)
    p = predict_proba(model, spec.transform(frame), device) if len(frame) else np.zeros(0)
    intent = classify_intent(p, frame["n_distinct_products"].to_numpy() if len(frame) else np.zeros(0),
                             cfg.buy_threshold, cfg.compare_min_products)
    return pd.DataFrame({"session_id": frame["session_id"].to_numpy() if len(frame) else [],
                         "p_purchase": p, "intent": intent})


def train(as_of_date: date, run_id: str, cfg: SessionIntentConfig | None = None) -> TrainResult:
    """Recipe: feature partition -> time holdout -> MLP vs logistic regression -> register."""
    cfg = cfg or SessionIntentConfig()
    device = pick_device()
    frame, found = read_daily_features(FEATURE_TABLE, as_of_date)
    if found is None or frame.empty:
        return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date}")
    found_end = as_of_instant(found)
    window = DataWindow(found_end - timedelta(days=FEATURE_WINDOW_DAYS), found_end)
    try:
        fitted = fit_and_evaluate(frame, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)
    y_hold = fitted.holdout["has_purchase"].astype(bool).to_numpy().astype(float)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        return evaluate_scores(y_hold, predict(art, fitted.holdout, device)["p_purchase"].to_numpy())

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.spec.to_dict(), metrics=fitted.metrics,
        baselines={BASELINE: fitted.baseline_metrics}, main_metric=MAIN_METRIC,
        higher_is_better=True, evaluate_champion=evaluate_champion,
        extra_metrics={"loss_history": fitted.loss_history, "feature_partition": found.isoformat()},
    )
