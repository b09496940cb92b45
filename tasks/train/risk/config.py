"""Risk's names, table and config (``RiskConfig``).

Kept apart so scoring and tests can read the table and settings without the model code.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.features.windows import DAILY_ROW_WINDOW_DAYS
from tasks.train.tabular import TabularClassifierConfig

MODEL_NAME = "risk"
MAIN_METRIC = "pr_auc"
RULES_VERSION = "rules-v1"
FEATURE_TABLE = "features.transaction_velocity"
FEATURE_WINDOW_DAYS = DAILY_ROW_WINDOW_DAYS  # the daily feature partition's row window (CONTRACTS.md)


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
