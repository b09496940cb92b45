"""The session-intent recipe: sessions (+ events, or summaries) -> time split -> model vs LR
and GBT -> register.

Glues the other modules of the package; the steps and the reasons for them are described
in the package docstring (``tasks/train/session_intent/__init__.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from tasks.features.windows import SESSION_MAX_SPAN
from tasks.train import shop_signals
from tasks.train.common import Artefact, DataWindow, TrainResult, as_of_instant, pick_device, setup_torch
from tasks.train.data import read_daily_features
from tasks.train.gbt_baseline import GBT, LOGISTIC, fit_gbt, fit_logistic, positive_proba
from tasks.train.metrics import pr_auc
from tasks.train.recipe import ServableBaseline, save_and_register
from tasks.train.segments import SEGMENT_FEATURE, with_segments
from tasks.train.session_intent.config import (
    EVENTS_TABLE,
    FEATURE_TABLE,
    FEATURE_WINDOW_DAYS,
    HOLDOUT_PROTOCOL,
    MAIN_METRIC,
    MODEL_NAME,
    SUMMARY_TABLE,
    SessionIntentConfig,
)
from tasks.train.session_intent.data import labelled, read_events, read_summaries
from tasks.train.session_intent.evaluation import _scorer_metrics, evaluate_scores
from tasks.train.session_intent.events import pre_purchase_events, prefix_aggregates, random_prefix
from tasks.train.session_intent.features import _model_frame, aggregates_spec, model_inputs, sequence_spec
from tasks.train.session_intent.model import SequenceIntentNet, _seq_bce, _sigmoid
from tasks.train.session_intent.serving import predict
from tasks.train.tabular import (
    EnsembleMLP,
    TabularSpec,
    _member_bce,
    predict_logits,
    time_split,
    train_early_stopped,
)

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    """The trained model, what scoring needs, and the holdout it was judged on."""

    kind: str  # "sequence" | "features" (session_features, no events) | "summaries" (fct_session_summaries)
    model: nn.Module
    spec: TabularSpec
    threshold: float
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout: pd.DataFrame
    loss_history: list[float]
    best_epoch: int
    events: pd.DataFrame | None = None  # the (prefix) events the holdout was scored with
    estimators: dict[str, Any] | None = None  # fitted baselines by name (servable candidates)

    def preprocessing(self) -> dict[str, Any]:
        return {**self.spec.to_dict(), "kind": self.kind, "threshold": self.threshold}


def _y(frame: pd.DataFrame) -> np.ndarray:
    return frame["has_purchase"].astype(bool).to_numpy().astype(float)


def fit_and_evaluate(frame: pd.DataFrame, cfg: SessionIntentConfig, device: torch.device,
                     events: pd.DataFrame | None = None) -> Fitted:
    """Time split, fit the model and both baselines on the same rows, score the same holdout.

    ``events`` given -> ``sequence``: the GRU model over session_features rows + events;
    ``events`` None and ``frame`` has ``page_value`` -> ``summaries``: the aggregates MLP
    over fct_session_summaries rows; otherwise ``features``: the aggregates MLP over
    session_features rows (a clickstream source whose fct_events could not be read).
    """
    data = labelled(frame)
    kind = "sequence" if events is not None else ("summaries" if "page_value" in data else "features")
    if events is not None and cfg.random_prefix:
        events = random_prefix(events[events["session_id"].isin(set(data["session_id"]))], cfg.seed)
        data = prefix_aggregates(data, events)
    if "n_events" in data:  # zero pre-purchase events: nothing a live scorer would see
        data = data[pd.to_numeric(data["n_events"], errors="coerce").fillna(0) > 0]
    if len(data) < cfg.min_rows:
        raise ValueError(f"only {len(data)} labelled sessions (< min_rows={cfg.min_rows})")
    train_df, val_df, hold_df = time_split(data, "session_start_at", "session_id", cfg.holdout_share,
                                           cfg.val_share)
    y_train, y_val, y_hold = _y(train_df), _y(val_df), _y(hold_df)
    if min(len(set(y_train)), len(set(y_val)), len(set(y_hold))) < 2:
        raise ValueError("training, validation or holdout sessions contain a single class; AUC is undefined")
    setup_torch(cfg)
    signals = shop_signals.Signals()
    if kind == "sequence" and events is not None:
        # Only the events a live scorer would see (before the purchase; the prefix when sampled).
        signals = shop_signals.discover(shop_signals.session_signals(train_df, pre_purchase_events(events)))
    spec = aggregates_spec(cfg) if kind == "summaries" else sequence_spec(cfg, SEGMENT_FEATURE in data, signals)
    spec.fit(_model_frame(spec, train_df, events))
    tr, va, ho = (model_inputs(kind, spec, d, events, cfg) for d in (train_df, val_df, hold_df))
    if kind == "sequence":
        model: nn.Module = SequenceIntentNet(tr["x"].shape[1], cfg)
        loss = _seq_bce
    else:
        model, loss = EnsembleMLP(tr["x"].shape[1], cfg.hidden, cfg.dropout, cfg.members), _member_bce
    tensors = {k: torch.as_tensor(v) for k, v in tr.items()} | {"y": torch.as_tensor(y_train, dtype=torch.float32)}
    model, history, best_epoch = train_early_stopped(
        model, tensors, {k: torch.as_tensor(v) for k, v in va.items()}, y_val, loss, pr_auc, cfg, device,
        cfg.patience)
    metrics, threshold = _scorer_metrics(_sigmoid(predict_logits(model, device, **va)), y_val,
                                         _sigmoid(predict_logits(model, device, **ho)), y_hold)
    baselines, estimators = {}, {}
    for name, fitted in ((LOGISTIC, fit_logistic(tr["x"], y_train)), (GBT, fit_gbt(tr["x"], y_train, cfg.seed))):
        baselines[name] = _scorer_metrics(positive_proba(fitted, va["x"]), y_val,
                                          positive_proba(fitted, ho["x"]), y_hold)[0]
        estimators[name] = fitted
    return Fitted(kind, model, spec, threshold, metrics, baselines, hold_df, history, best_epoch, events,
                  estimators)


def train(as_of_date: date, run_id: str, cfg: SessionIntentConfig | None = None) -> TrainResult:
    """Recipe: sessions (+ events, or summaries) -> time split -> model vs LR and GBT -> register."""
    cfg = cfg or SessionIntentConfig()
    device = pick_device()
    end = as_of_instant(as_of_date)
    frame, found = read_daily_features(FEATURE_TABLE, as_of_date)
    events: pd.DataFrame | None = None
    if found is not None and not labelled(frame).empty:
        found_end = as_of_instant(found)
        window = DataWindow(found_end - timedelta(days=FEATURE_WINDOW_DAYS), found_end)
        events = read_events(frame["session_id"].to_numpy(), window.start - SESSION_MAX_SPAN, found_end)
        if events.empty:
            log.warning("%s: no %s rows for the partition's sessions; training on aggregates only",
                        MODEL_NAME, EVENTS_TABLE)
            events = None
        source = f"{FEATURE_TABLE} ({found})"
        frame = with_segments(frame, "session_start_at")  # point-in-time user segment, when segments exist
    else:
        window = DataWindow(end - timedelta(days=cfg.aggregates_window_days), end)
        frame = read_summaries(window.start, window.end)
        if frame.empty:
            return TrainResult.skipped(MODEL_NAME, f"no {FEATURE_TABLE} partition at or before {as_of_date} "
                                       f"and no {SUMMARY_TABLE} rows before {end}")
        source = f"{SUMMARY_TABLE} [{window.start}, {window.end})"
    try:
        fitted = fit_and_evaluate(frame, cfg, device, events)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, f"{source}: {exc}", window)
    y_hold = _y(fitted.holdout)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        p = predict(art, fitted.holdout, device, fitted.events)["p_purchase"].to_numpy()
        return evaluate_scores(y_hold, p, float(art.preprocessing["threshold"]))

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.preprocessing(), metrics=fitted.metrics,
        baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=True,
        evaluate_champion=evaluate_champion, training_inputs={"sessions": frame, "events": events},
        extra_metrics={"loss_history": fitted.loss_history, "best_epoch": fitted.best_epoch,
                       "kind": fitted.kind, "data": source, "holdout_protocol": HOLDOUT_PROTOCOL},
        servable=servable_baselines(fitted),
    )


def servable_baselines(fitted: Fitted) -> list[ServableBaseline]:
    """LR and GBT as serving candidates, each with its own validation-chosen threshold."""
    return [ServableBaseline(name, estimator, {"threshold": float(fitted.baselines[name]["threshold"])})
            for name, estimator in (fitted.estimators or {}).items()]
