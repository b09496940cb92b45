"""The risk recipe: velocity partition -> (labels?) -> time split -> MLP vs rules-v1 and GBT -> register.

Glues the other modules of the package; the steps and the reasons for them are described
in the package docstring (``tasks/train/risk/__init__.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import torch

from tasks.train import shop_signals
from tasks.train.calibration import Platt
from tasks.train.common import Artefact, DataWindow, TrainResult, as_of_instant, pick_device, setup_torch
from tasks.train.data import read_daily_features
from tasks.train.gbt_baseline import GBT, fit_gbt, positive_proba
from tasks.train.metrics import pr_auc
from tasks.train.recipe import ServableBaseline, save_and_register
from tasks.train.risk.config import (
    FEATURE_TABLE,
    FEATURE_WINDOW_DAYS,
    HOLDOUT_PROTOCOL,
    MAIN_METRIC,
    MODEL_NAME,
    RULES_VERSION,
    RiskConfig,
)
from tasks.train.risk.evaluation import calibrate_and_evaluate, evaluate_probabilities
from tasks.train.risk.features import LOG_COLS, new_spec
from tasks.train.risk.model import raw_proba
from tasks.train.risk.policy import Thresholds
from tasks.train.risk.rules import rules_score
from tasks.train.risk.serving import artefact_policy, predict_proba_frame
from tasks.train.segments import SEGMENT_FEATURE, with_segments
from tasks.train.tabular import EnsembleMLP, TabularSpec, _member_bce, time_split, train_early_stopped

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    """The trained model and everything scoring needs, plus the holdout it was judged on."""

    model: EnsembleMLP
    spec: TabularSpec
    platt: Platt
    thresholds: Thresholds
    typical: dict[str, float]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout: pd.DataFrame
    loss_history: list[float]
    best_epoch: int
    servable: list[ServableBaseline] = field(default_factory=list)  # rules-v1 and GBT as candidates

    def preprocessing(self) -> dict[str, object]:
        return {**self.spec.to_dict(), "calibration": self.platt.to_dict(),
                "thresholds": self.thresholds.to_dict(), "typical": self.typical}


def labels_present(frame: pd.DataFrame) -> bool:
    return "is_fraud" in frame and frame["is_fraud"].notna().any()


def _y(frame: pd.DataFrame) -> np.ndarray:
    return frame["is_fraud"].astype(bool).to_numpy().astype(float)


def fit_and_evaluate(frame: pd.DataFrame, cfg: RiskConfig, device: torch.device) -> Fitted:
    """Train | validation | holdout by time; model and baselines judged on the same holdout rows."""
    data = shop_signals.expand(frame[frame["is_fraud"].notna()])
    if len(data) < cfg.min_rows:
        raise ValueError(f"only {len(data)} labelled transactions (< min_rows={cfg.min_rows})")
    train_df, val_df, hold_df = time_split(data, "transaction_at", "transaction_id", cfg.holdout_share,
                                           cfg.val_share)
    y_train, y_val, y_hold = _y(train_df), _y(val_df), _y(hold_df)
    if y_train.sum() < cfg.min_positives or y_val.sum() < 1 or y_hold.sum() < 1:
        raise ValueError(f"too few frauds: {int(y_train.sum())} in training, {int(y_val.sum())} in "
                         f"validation, {int(y_hold.sum())} in holdout")
    setup_torch(cfg)
    signals = shop_signals.discover(train_df)
    with_nulls = tuple(c for c in signals.numeric if train_df[c].isna().any())
    spec = new_spec(cfg, SEGMENT_FEATURE in data, signals, with_nulls).fit(train_df)
    x_train, x_val, x_hold = spec.transform(train_df), spec.transform(val_df), spec.transform(hold_df)
    model = EnsembleMLP(x_train.shape[1], cfg.hidden, cfg.dropout, cfg.members)
    model, history, best_epoch = train_early_stopped(
        model, {"x": torch.as_tensor(x_train), "y": torch.as_tensor(y_train, dtype=torch.float32)},
        {"x": torch.as_tensor(x_val)}, y_val, _member_bce, pr_auc, cfg, device, cfg.patience)
    metrics, platt, thresholds = calibrate_and_evaluate(
        raw_proba(model, x_val, device), y_val, raw_proba(model, x_hold, device), y_hold, cfg)
    gbt = fit_gbt(x_train, y_train, cfg.seed)
    baselines, servable = {}, []
    for name, estimator, val_score, hold_score in (
            (RULES_VERSION, None, rules_score(val_df), rules_score(hold_df)),
            (GBT, gbt, positive_proba(gbt, x_val), positive_proba(gbt, x_hold))):
        baselines[name], b_platt, b_thresholds = calibrate_and_evaluate(val_score, y_val, hold_score, y_hold, cfg)
        # Served with its own calibration and cuts, chosen on the same validation slice.
        servable.append(ServableBaseline(name, estimator, {"calibration": b_platt.to_dict(),
                                                           "thresholds": b_thresholds.to_dict()}))
    typical = {c: float(pd.to_numeric(train_df[c], errors="coerce").median())
               for c in (*LOG_COLS,) if pd.to_numeric(train_df[c], errors="coerce").notna().any()}
    return Fitted(model, spec, platt, thresholds, typical, metrics, baselines, hold_df, history, best_epoch,
                  servable)


def train(as_of_date: date, run_id: str, cfg: RiskConfig | None = None) -> TrainResult:
    """Recipe: velocity partition -> (labels?) -> time split -> MLP vs rules-v1 and GBT -> register."""
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
    frame = with_segments(frame, "transaction_at")  # point-in-time user segment, when segments exist
    try:
        fitted = fit_and_evaluate(frame, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, f"{exc}; scoring uses {RULES_VERSION} until a model exists",
                                   window)
    y_hold = _y(fitted.holdout)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        _, thresholds, _ = artefact_policy(art)
        return evaluate_probabilities(y_hold, predict_proba_frame(art, fitted.holdout, device), thresholds,
                                      cfg.precision_target)

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.preprocessing(), metrics=fitted.metrics,
        baselines=fitted.baselines, main_metric=MAIN_METRIC,
        higher_is_better=True, evaluate_champion=evaluate_champion, training_inputs={FEATURE_TABLE: frame},
        extra_metrics={"loss_history": fitted.loss_history, "best_epoch": fitted.best_epoch,
                       "feature_partition": found.isoformat(), "holdout_protocol": HOLDOUT_PROTOCOL},
        servable=fitted.servable,
    )
