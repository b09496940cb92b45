"""The three ways a list can be ranked — the learned model and the two BM25 baselines — as one
function of the padded feature lists, so training, evaluation, the champion comparison and
scoring all rank through the same code (a served baseline ranks exactly as it was judged)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tasks.train.search_ranker.features import FEATURES
from tasks.train.search_ranker.model import RowScorer, predict

LEARNED = "model"
POPULARITY_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)


def bm25_scores(x: np.ndarray) -> np.ndarray:
    """BM25 (rank_bm25) of title + description: the lexical baseline."""
    return x[..., FEATURES.index("bm25")].astype(float)


def bm25_popularity_scores(x: np.ndarray, weight: float) -> np.ndarray:
    """BM25 as a share of the list's best match, plus ``weight`` x log popularity."""
    return (x[..., FEATURES.index("bm25_norm")].astype(float)
            + weight * x[..., FEATURES.index("log_popularity")].astype(float))


def standardise(x: np.ndarray, preprocessing: dict[str, Any]) -> np.ndarray:
    mean = np.asarray(preprocessing["mean"], dtype=np.float32)
    std = np.asarray(preprocessing["std"], dtype=np.float32)
    return ((x - mean) / std).astype(np.float32)


def scores(strategy: str, x: np.ndarray, preprocessing: dict[str, Any], model: RowScorer | None,
           device: torch.device) -> np.ndarray:
    """Scores of every row of ``x`` (..., F) under ``strategy``: ``model``, ``bm25`` or
    ``bm25_popularity`` (its weight from ``preprocessing['popularity_weight']``)."""
    if strategy == "bm25":
        return bm25_scores(x)
    if strategy == "bm25_popularity":
        return bm25_popularity_scores(x, float(preprocessing.get("popularity_weight", 0.0)))
    if strategy != LEARNED or model is None:
        raise ValueError(f"unknown search ranking strategy {strategy!r}")
    if list(preprocessing.get("features", FEATURES)) != list(FEATURES):
        raise ValueError("the artefact was trained on other features: "
                         f"{preprocessing.get('features')} != {list(FEATURES)}")
    return predict(model, standardise(x, preprocessing), device)


def strategy_of(serving_strategy: str) -> str:
    """Registry ``serving_strategy`` (``learned`` | ``baseline:<name>``) -> policy name."""
    return serving_strategy.split(":", 1)[1] if serving_strategy.startswith("baseline:") else LEARNED
