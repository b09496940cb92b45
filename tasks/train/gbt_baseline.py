"""The baselines every classifier recipe must beat: logistic regression and a GBT.

Both are fitted on the same training rows and the same feature matrix as the
torch model and scored on the same holdout rows, so the only difference in
``ml.evaluations`` is the model. The GBT is scikit-learn's
HistGradientBoostingClassifier with one fixed, sensible configuration (lower
learning rate, more rounds, early stopping on an internal split): a strong
baseline that nobody tunes against the holdout. Tune the torch models, not these.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

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


# ------------------------------------------------------- servable baselines --
# A baseline that wins on the holdout is served (tasks/train/recipe.py), so its fitted
# estimator is stored in the artefact folder. skops (a maintained, secure format for
# scikit-learn objects: loading runs no pickle code, only the listed types) is used when
# installed; otherwise joblib, whose file the loader only opens when its SHA-256 matches the
# one recorded in config.json (the artefact store is written by this pipeline alone).
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "collections.")


def _import_skops() -> Any:
    """``skops.io``, imported with warnings off.

    At import skops finds the module of every scipy ufunc by looking the name up in every loaded
    module. In an Airflow task that includes Airflow's deprecated-attribute shims, each of which
    warns: one import wrote 1,160 ``DeprecatedImportWarning`` lines into the task log the UI shows
    (about 2 s of a 4 s scoring task on S), none of them about this code.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skops.io as sio
    return sio


def save_estimator(estimator: Any, folder: Path) -> dict[str, str]:
    """Write ``estimator`` into ``folder`` atomically; returns what ``load_estimator`` needs."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        sio = _import_skops()
    except ImportError:
        sio = None
    if sio is not None:
        path, fmt = folder / "baseline.skops", "skops"
        tmp = path.with_name(path.name + ".tmp")
        sio.dump(estimator, tmp)
    else:
        import joblib

        path, fmt = folder / "baseline.joblib", "joblib"
        tmp = path.with_name(path.name + ".tmp")
        joblib.dump(estimator, tmp)
    tmp.replace(path)
    return {"file": path.name, "format": fmt, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def load_estimator(folder: Path, stored: dict[str, str]) -> Any:
    """Read an estimator written by ``save_estimator`` (integrity- and type-checked)."""
    path = folder / stored["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != stored["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest} does not match the artefact's {stored['sha256']}")
    if stored["format"] == "skops":
        sio = _import_skops()

        untrusted = sio.get_untrusted_types(file=path)
        unexpected = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
        if unexpected:
            raise ValueError(f"{path} holds unexpected types {unexpected}")
        return sio.load(path, trusted=untrusted)
    import joblib

    return joblib.load(path)
