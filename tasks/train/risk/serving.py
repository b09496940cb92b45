"""What a registered version serves: calibrated score, label, action and reasons per payment.

Used by ``tasks/score/risk_labels.py`` and by the champion comparison in the recipe, so a
version is evaluated exactly as it is served.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from tasks.train import shop_signals
from tasks.train.calibration import Platt
from tasks.train.common import Artefact
from tasks.train.gbt_baseline import load_estimator, positive_proba
from tasks.train.risk.config import RULES_VERSION
from tasks.train.risk.features import _needs_segment, _signal_columns
from tasks.train.risk.model import load_model, raw_proba
from tasks.train.risk.policy import Thresholds, action_for, is_card_testing, label_for, top_reasons
from tasks.train.risk.rules import rules_decisions, rules_score
from tasks.train.segments import ensure_segment_column
from tasks.train.tabular import TabularSpec, input_attributions


def artefact_policy(art: Artefact) -> tuple[Platt, Thresholds, dict[str, float]]:
    """Calibration, thresholds and typical values stored with the artefact."""
    pre = art.preprocessing
    th = pre["thresholds"]
    return (Platt.from_dict(pre.get("calibration")),
            Thresholds(float(th["t_review"]), float(th["t_block"])), dict(pre.get("typical", {})))


def _baseline_raw_score(art: Artefact, spec: TabularSpec, frame: pd.DataFrame) -> np.ndarray:
    """Uncalibrated score of a served baseline (``serving_strategy = baseline:<name>``)."""
    if art.serving_strategy == f"baseline:{RULES_VERSION}":
        return rules_score(frame)
    estimator = load_estimator(art.folder, art.preprocessing["estimator"])  # type: ignore[arg-type]
    return positive_proba(estimator, spec.transform(frame))


def predict_proba_frame(art: Artefact, frame: pd.DataFrame, device: torch.device) -> np.ndarray:
    """Calibrated fraud probability of every row (the champion evaluation uses it too)."""
    model, spec, _ = load_model(art, device)
    frame = ensure_segment_column(frame, "transaction_at", _needs_segment(spec))
    frame = shop_signals.expand(frame, _signal_columns(spec))
    platt, _, _ = artefact_policy(art)
    if not len(frame):
        return np.zeros(0)
    if art.serving_strategy.startswith("baseline:"):
        return platt.apply(_baseline_raw_score(art, spec, frame))
    return platt.apply(raw_proba(model, spec.transform(frame), device))


def predict(art: Artefact, frame: pd.DataFrame, device: torch.device, precision: str | None = None) -> pd.DataFrame:
    """risk_score (calibrated probability), label, action, reasons with the artefact's thresholds.

    ``precision`` (default ``settings.scoring_precision``) applies to the scores only; the
    reasons come from the fp32 model's attributions."""
    from tasks.score.precision import for_scoring
    from tasks.settings import get_settings

    if frame.empty:
        return pd.DataFrame(columns=["transaction_id", "risk_score", "label", "action", "reasons"])
    model, spec, _ = load_model(art, device)
    platt, thresholds, typical = artefact_policy(art)
    frame = ensure_segment_column(frame, "transaction_at", _needs_segment(spec))
    frame = shop_signals.expand(frame, _signal_columns(spec))
    if art.serving_strategy.startswith("baseline:"):
        # A served baseline: its calibrated score and cuts; reasons are the documented rule hits.
        score = platt.apply(_baseline_raw_score(art, spec, frame))
        label = label_for(score, thresholds.t_review, thresholds.t_block)
        rules = rules_decisions(frame)
        return pd.DataFrame({"transaction_id": frame["transaction_id"].to_numpy(), "risk_score": score,
                             "label": label, "action": action_for(label, is_card_testing(frame)),
                             "reasons": rules["reasons"].to_numpy()})
    x = spec.transform(frame)
    scorer, scorer_device = for_scoring(model, precision or get_settings().scoring_precision, device)
    score = platt.apply(raw_proba(scorer, x, scorer_device))
    label = label_for(score, thresholds.t_review, thresholds.t_block)
    sources = [src for _, src in spec.features()]
    return pd.DataFrame({
        "transaction_id": frame["transaction_id"].to_numpy(), "risk_score": score, "label": label,
        "action": action_for(label, is_card_testing(frame)),
        "reasons": top_reasons(frame.reset_index(drop=True), sources, input_attributions(model, x, device),
                               typical),
    })
