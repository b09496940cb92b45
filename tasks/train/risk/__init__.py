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
5. Thresholds (``policy.choose_thresholds``) on the validation slice:
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

Decision, actions and reasons: ``tasks/train/risk/policy.py`` and docs/risk_policy.md.
No public card data set is available, so the quality claims rest on the synthetic
shop's planted fraud patterns (docs/synthetic_ground_truth.md) and the planted-signal
frames in ``tests/fixtures/synthetic_frames.transaction_velocity``.

Modules (one responsibility each; this package re-exports the names other code imports, so
``from tasks.train import risk as rk; rk.train(...)`` works as before):

- ``config``: names, table, ``RiskConfig``.
- ``features``: the feature spec (velocity/account columns, segment, shop signals).
- ``policy``: probability bands -> label -> action, thresholds, reason texts
  (the executable form of docs/risk_policy.md).
- ``rules``: rules-v1, the documented fallback scorer and baseline.
- ``model``: the network's raw probability, ``load_model``.
- ``evaluation``: calibration, thresholds and the holdout metrics every scorer reports.
- ``serving``: ``predict`` (what ``serving.risk_labels`` gets), ``predict_proba_frame``.
- ``recipe``: ``fit_and_evaluate`` and ``train`` (the entry point ``pipeline`` calls).
"""

from __future__ import annotations

from tasks.train.risk.config import FEATURE_TABLE, MAIN_METRIC, MODEL_NAME, RULES_VERSION, RiskConfig
from tasks.train.risk.model import raw_proba
from tasks.train.risk.policy import LABELS, action_for, is_card_testing, label_for
from tasks.train.risk.recipe import Fitted, fit_and_evaluate, train
from tasks.train.risk.rules import rules_decisions
from tasks.train.risk.serving import predict

__all__ = [
    "FEATURE_TABLE",
    "Fitted",
    "LABELS",
    "MAIN_METRIC",
    "MODEL_NAME",
    "RULES_VERSION",
    "RiskConfig",
    "action_for",
    "fit_and_evaluate",
    "is_card_testing",
    "label_for",
    "predict",
    "raw_proba",
    "rules_decisions",
    "train",
]
