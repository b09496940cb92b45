"""What a registered version serves: p_purchase from its model or baseline, and the intent class.

Used by ``tasks/score/session_intent.py`` and by the champion comparison in the recipe, so a
version is evaluated exactly as it is served.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from tasks.train.common import Artefact
from tasks.train.gbt_baseline import load_estimator, positive_proba
from tasks.train.session_intent.features import _model_frame, model_inputs
from tasks.train.session_intent.model import _sigmoid, load_model
from tasks.train.tabular import predict_logits


def classify_intent(p_purchase: np.ndarray, n_distinct_products: np.ndarray, buy_threshold: float,
                    compare_min_products: int, n_distinct_categories: np.ndarray | None = None,
                    compare_max_categories: int | None = None) -> np.ndarray:
    """The documented rule: buy >= threshold, else compare on several distinct products
    (in few categories, when categories are known), else browse."""
    def num(values: Any) -> np.ndarray:
        return np.nan_to_num(np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float), nan=0.0)

    p = np.asarray(p_purchase, dtype=float)
    compare = num(n_distinct_products) >= compare_min_products
    if n_distinct_categories is not None and compare_max_categories is not None:
        compare &= num(n_distinct_categories) <= compare_max_categories
    return np.where(p >= buy_threshold, "buy", np.where(compare, "compare", "browse"))


def predict(art: Artefact, frame: pd.DataFrame, device: torch.device,
            events: pd.DataFrame | None = None) -> pd.DataFrame:
    """session_id, p_purchase, intent, threshold for every row of a session frame
    (session_features rows + their events, or prepared fct_session_summaries rows)."""
    model, spec, cfg, kind = load_model(art, device)
    threshold = float(art.preprocessing["threshold"])
    if frame.empty:
        return pd.DataFrame({"session_id": pd.Series(dtype=object), "p_purchase": pd.Series(dtype=float),
                             "intent": pd.Series(dtype=object), "threshold": pd.Series(dtype=float)})
    if art.serving_strategy.startswith("baseline:"):
        # A served baseline (recipe.ServableBaseline): same aggregate matrix, its own threshold.
        estimator = load_estimator(art.folder, art.preprocessing["estimator"])  # type: ignore[arg-type]
        x = spec.transform(_model_frame(spec, frame, events))
        p = positive_proba(estimator, x)
    else:
        p = _sigmoid(predict_logits(model, device, **model_inputs(kind, spec, frame, events, cfg)))
    if "n_distinct_products" in frame:
        intent = classify_intent(p, frame["n_distinct_products"].to_numpy(), threshold, cfg.compare_min_products,
                                 frame["n_distinct_categories"].to_numpy(), cfg.compare_max_categories)
    else:
        intent = classify_intent(p, frame["n_product_views"].to_numpy(), threshold, cfg.compare_min_products)
    return pd.DataFrame({"session_id": frame["session_id"].to_numpy(), "p_purchase": p, "intent": intent,
                         "threshold": threshold})
