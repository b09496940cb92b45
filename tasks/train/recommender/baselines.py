"""The recommender's baselines and heuristic components, built on one holdout.

Every baseline is fitted on interactions before the holdout's split and can be rebuilt
at scoring time from the interactions alone (``servable_baselines``), so a baseline that
beats the model can be served.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tasks.train.ranking_baselines import (
    CategoryPopularityRanker,
    EASERanker,
    ItemKNNRanker,
    PopularityRanker,
    Ranker,
    RecentRanker,
    SessionKNNRanker,
)
from tasks.train.recipe import ServableBaseline
from tasks.train.recommender.config import BASELINES, RecommenderConfig
from tasks.train.recommender.data import popularity, with_index


@dataclass
class Holdout:
    """The evaluation set every version (new, baselines, champion) is scored on."""

    inter: pd.DataFrame
    split: datetime
    end: datetime
    popularity: pd.Series  # item_id -> mass in the popularity_days before the split


def make_holdout(inter: pd.DataFrame, split: datetime, end: datetime, cfg: RecommenderConfig) -> Holdout:
    pop = popularity(inter, split - timedelta(days=cfg.popularity_days), split)
    return Holdout(inter=inter, split=split, end=end, popularity=pop)


def popularity_ranker(pop: pd.Series, vocab: list[str]) -> PopularityRanker:
    index = {item: i for i, item in enumerate(vocab, start=1)}
    known = [(index[i], float(m)) for i, m in pop.items() if i in index]
    return PopularityRanker.from_counts((i for i, _ in known), (m for _, m in known), len(vocab))


def build_baselines(train: pd.DataFrame, vocab: list[str], holdout: Holdout,
                    cfg: RecommenderConfig) -> dict[str, Ranker]:
    """Every baseline, fitted on ``train`` (interactions before ``holdout.split``)."""
    idx = with_index(train[train["ts"] < holdout.split], vocab)
    pop = popularity_ranker(holdout.popularity, vocab)
    return {
        "popularity": pop,
        "item_knn": ItemKNNRanker(idx, len(vocab), pop, decay=cfg.recency_decay),
        "session_knn": SessionKNNRanker(idx, len(vocab), pop, pd.Timestamp(holdout.split)),
        "ease": EASERanker(idx, len(vocab), pop),
    }


def extra_components(vocab: list[str], item_category: np.ndarray, holdout: Holdout,
                     cfg: RecommenderConfig) -> dict[str, Ranker]:
    """The hybrid's heuristic signals besides the baselines: the user's own recent items
    (re-views and re-buys) and popular items of the user's recent categories."""
    pop = popularity_ranker(holdout.popularity, vocab)
    return {"recent": RecentRanker(len(vocab), pop, cfg.recency_decay),
            "category_popularity": CategoryPopularityRanker(item_category, pop, cfg.recency_decay)}


def servable_baselines(baselines: dict[str, dict[str, float]]) -> list[ServableBaseline]:
    """Every baseline ``policy_ranker`` can rebuild at scoring time (they need no fitted
    state: the neighbourhoods are recomputed from the interactions before the list's date)."""
    return [ServableBaseline(name) for name in BASELINES if name in baselines]
