"""Transaction risk: calibrated fraud probability -> pass/review/block, action, reasons.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.risk import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: the daily ``features.transaction_velocity`` partition valid at
   ``as_of_date`` (transactions in ``[as_of - DAILY_ROW_WINDOW_DAYS, as_of)``), label ``is_fraud``.
   Sources without fraud labels (all null) are not trained on: the run is
   skipped with a clear log line and scoring uses the rules below (``rules-v1``).
2. Split by ``transaction_at`` (``tabular.time_split``): train | validation (latest
   ``val_share`` of the rest) | holdout (latest ``holdout_share``).
3. Model: an ensemble of small MLPs (``EnsembleMLP``) on log-scaled velocity/amount
   features plus piecewise-linear bins (``TabularSpec``), plain BCE; the epoch is
   picked by validation PR-AUC.
4. Calibration: Platt scaling fitted on the validation slice (``calibration.py``).
5. Thresholds (``risk_policy.choose_thresholds``) on the validation slice:
   ``t_block`` = lowest cut with precision >= ``precision_target`` (90 %),
   ``t_review`` = lowest cut with precision >= ``review_precision`` (50 %).
6. Baselines on the same holdout, each calibrated and thresholded on the same
   validation slice: ``rules-v1`` (the documented rules) and ``gbt``
   (HistGradientBoosting on the same matrix). Both are serving candidates
   (``recipe.ServableBaseline``): the best one that beats the model on holdout PR-AUC is
   registered and served as ``risk-baseline_<name>-...`` with its own calibration and cuts.
7. Metrics: PR-AUC (main: fraud is rare, ROC-AUC flatters), ROC-AUC, recall at 90 %
   precision (on the holdout's own curve), precision/recall at the validation-chosen
   ``t_block``, ECE and Brier score of the calibrated probability.

Decision, actions and reasons: ``tasks/train/risk_policy.py`` and docs/risk_policy.md.
No public card data set is available, so the quality claims rest on the synthetic
shop's planted fraud patterns (docs/synthetic_ground_truth.md) and the planted-signal
frames in ``tests/fixtures/synthetic_frames.transaction_velocity``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import torch

from tasks.features.windows import DAILY_ROW_WINDOW_DAYS
from tasks.train import shop_signals
from tasks.train.calibration import Platt, fit_platt
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
from tasks.train.gbt_baseline import GBT, fit_gbt, load_estimator, positive_proba
from tasks.train.metrics import (
    brier_score,
    expected_calibration_error,
    pr_auc,
    precision_recall_at,
    recall_at_precision,
    roc_auc,
)
from tasks.train.recipe import ServableBaseline, save_and_register
from tasks.train.risk_policy import (
    LABELS,
    Thresholds,
    action_for,
    choose_thresholds,
    is_card_testing,
    label_for,
    top_reasons,
)
from tasks.train.segments import SEGMENT_FEATURE, ensure_segment_column, with_segments
from tasks.train.tabular import (
    EnsembleMLP,
    TabularClassifierConfig,
    TabularSpec,
    _member_bce,
    input_attributions,
    predict_logits,
    time_split,
    train_early_stopped,
)

log = logging.getLogger(__name__)

MODEL_NAME = "risk"
MAIN_METRIC = "pr_auc"
RULES_VERSION = "rules-v1"
FEATURE_TABLE = "features.transaction_velocity"
FEATURE_WINDOW_DAYS = DAILY_ROW_WINDOW_DAYS  # the daily feature partition's row window (CONTRACTS.md)
__all__ = ["LABELS", "action_for", "is_card_testing", "label_for"]  # policy re-exported

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
HOLDOUT_PROTOCOL = ("time-ordered: train | validation (epoch, Platt calibration, thresholds) | "
                    "holdout (latest rows, only scored)")


@dataclass(frozen=True)
class RiskConfig(TabularClassifierConfig):
    """Defaults tuned on the synthetic planted-fraud frames (validation PR-AUC only)."""

    epochs: int = 40
    batch_size: int = 256
    weight_decay: float = 1e-4
    hidden: tuple[int, ...] = (64,)
    members: int = 3
    ple_bins: int = 8
    clip: float = 5.0
    patience: int = 8
    val_share: float = 0.25
    min_rows: int = 200
    min_positives: int = 10
    precision_target: float = 0.9
    review_precision: float = 0.5

    def validate(self) -> None:
        super().validate()
        if self.min_positives < 1:
            raise ValueError("min_positives must be >= 1")
        if self.members < 1:
            raise ValueError("members must be >= 1")
        if not 0 < self.val_share < 1:
            raise ValueError("val_share must be in (0, 1)")
        if not 0 < self.review_precision <= self.precision_target < 1:
            raise ValueError("need 0 < review_precision <= precision_target < 1")


LOG_COLS = ("amount", "n_txn_1h", "n_txn_24h", "amount_sum_24h", "n_distinct_cards_24h",
            "n_distinct_devices_7d", "amount_to_user_mean", "seconds_since_prev_txn", "account_age_days")


def new_spec(cfg: RiskConfig | None = None, with_segment: bool = False,
             signals: shop_signals.Signals | None = None, signals_with_nulls: tuple[str, ...] = ()) -> TabularSpec:
    """Velocity/account features; plus the user's segment (categorical) when known, plus the
    shop's own signals (the mapping's ``features:`` on transactions): numeric ones linear and
    piecewise-linear, categorical ones as levels, a missing flag where training saw nulls."""
    cfg = cfg or RiskConfig()
    signals = signals or shop_signals.Signals()
    return TabularSpec(
        categorical={**({SEGMENT_FEATURE: []} if with_segment else {}), **{c: [] for c in signals.categorical}},
        log_cols=LOG_COLS,
        plain_cols=signals.numeric,
        bool_cols=("is_new_device", "is_new_country"),
        missing_cols=("seconds_since_prev_txn", "account_age_days", *signals_with_nulls),
        ple={c: [] for c in ("amount", "amount_to_user_mean", "seconds_since_prev_txn", "account_age_days",
                             "amount_sum_24h", *signals.numeric)},
        ple_bins=cfg.ple_bins, clip=cfg.clip, min_level_count=20,
    )


def _signal_columns(spec: TabularSpec) -> tuple[str, ...]:
    return tuple(c for c in spec.input_columns if c.startswith(shop_signals.PREFIX))


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


# ----------------------------------------------------------------- model ----
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


def evaluate_probabilities(y: np.ndarray, p: np.ndarray, thresholds: Thresholds,
                           precision_target: float) -> dict[str, float]:
    """The metric keys every risk scorer (model and baselines) reports on the holdout.

    ``precision_at_block`` is 0 when the cut flags nothing on the holdout (no
    block was issued, so no precision was delivered either).
    """
    precision, recall = precision_recall_at(y, p, thresholds.t_block)
    return {"pr_auc": pr_auc(y, p), "roc_auc": roc_auc(y, p),
            "recall_at_p90": recall_at_precision(y, p, precision_target),
            "precision_at_block": 0.0 if np.isnan(precision) else precision,
            "recall_at_block": recall, "ece": expected_calibration_error(y, p), "brier": brier_score(y, p),
            "t_block": thresholds.t_block if np.isfinite(thresholds.t_block) else 1.0,
            "t_review": thresholds.t_review if np.isfinite(thresholds.t_review) else 1.0,
            "positive_rate": float(np.mean(y)), "n_holdout": float(len(y))}


def calibrate_and_evaluate(val_score: np.ndarray, y_val: np.ndarray, hold_score: np.ndarray,
                           y_hold: np.ndarray, cfg: RiskConfig) -> tuple[dict[str, float], Platt, Thresholds]:
    """Platt + thresholds from the validation slice, metrics on the holdout (one scorer)."""
    platt = fit_platt(val_score, y_val)
    p_val = platt.apply(val_score)
    thresholds = choose_thresholds(y_val, p_val, cfg.precision_target, cfg.review_precision)
    return (evaluate_probabilities(y_hold, platt.apply(hold_score), thresholds, cfg.precision_target),
            platt, thresholds)


def raw_proba(model: EnsembleMLP, x: np.ndarray, device: torch.device) -> np.ndarray:
    """The network's uncalibrated probability (Platt then works on its logit)."""
    return 1.0 / (1.0 + np.exp(-predict_logits(model, device, x=x)))


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


def load_model(art: Artefact, device: torch.device) -> tuple[EnsembleMLP, TabularSpec, RiskConfig]:
    cfg = config_from_dict(RiskConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    model = EnsembleMLP(len(spec.feature_names), cfg.hidden, cfg.dropout, cfg.members)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec, cfg


def artefact_policy(art: Artefact) -> tuple[Platt, Thresholds, dict[str, float]]:
    """Calibration, thresholds and typical values stored with the artefact."""
    pre = art.preprocessing
    th = pre["thresholds"]
    return (Platt.from_dict(pre.get("calibration")),
            Thresholds(float(th["t_review"]), float(th["t_block"])), dict(pre.get("typical", {})))


def _needs_segment(spec: TabularSpec) -> bool:
    return SEGMENT_FEATURE in spec.categorical


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
