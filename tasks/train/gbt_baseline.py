"""The baselines every classifier recipe must beat: logistic regression and a GBT.

Both are fitted on the same training rows and the same feature matrix as the
torch model and scored on the same holdout rows, so the only difference in
``ml.evaluations`` is the model. The GBT is scikit-learn's
HistGradientBoostingClassifier with one fixed, sensible configuration (lower
learning rate, more rounds, early stopping on an internal split): a strong
baseline that nobody tunes against the holdout. Tune the torch models, not these.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

LOGISTIC = "logistic_regression"
GBT = "gbt"


def fit_logistic(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """L2 logistic regression on the standardised matrix (the linear reference)."""
    return LogisticRegression(max_iter=3000).fit(x, y.astype(int))


def fit_gbt(x: np.ndarray, y: np.ndarray, seed: int) -> HistGradientBoostingClassifier:
    """Gradient-boosted trees; deterministic by ``seed`` (it seeds the early-stopping split)."""
    model = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=300, early_stopping=True,
                                           validation_fraction=0.1, n_iter_no_change=20,
                                           random_state=seed)
    return model.fit(x, y.astype(int))


def positive_proba(model: LogisticRegression | HistGradientBoostingClassifier, x: np.ndarray) -> np.ndarray:
    """P(y = 1); an all-negative or all-positive training set still gives one column per row."""
    if len(x) == 0:
        return np.zeros(0)
    proba = model.predict_proba(x)
    classes = list(model.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(x))
