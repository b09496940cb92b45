"""The search ranker's name, main metric, baseline names and config.

Kept apart from the code that uses them so scoring, the registry and tests can read the
settings without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.train.common import TrainConfig

MODEL_NAME = "search_ranker"
MAIN_METRIC = "ndcg_at_10"
BASELINES = ("bm25", "bm25_popularity")
# The daily feature table drift monitoring profiles for this model (tasks/monitoring/model_io.py).
# The ranker reads the search log and marts directly; its product-side inputs (popularity,
# price, category) are what features.item_features summarises per day, so that is the proxy.
FEATURE_TABLE = "features.item_features"
# Graded relevance of a shown result: bought > clicked > only shown.
GAIN_CLICK = 1.0
GAIN_PURCHASE = 2.0


@dataclass(frozen=True)
class SearchRankerConfig(TrainConfig):
    """Settings of the search ranker recipe (defaults: synthetic S in a few CPU seconds)."""

    epochs: int = 10
    batch_size: int = 512  # result lists per step
    lr: float = 1e-2
    weight_decay: float = 1e-4
    hidden: tuple[int, ...] = (32, 16)
    lookback_days: int = 60
    holdout_days: int = 7  # the latest days of searches: held out (later in time than training)
    validation_days: int = 7  # before the holdout: picks the epoch and BM25 + popularity's weight
    affinity_prior: float = 5.0  # pseudo-interactions at the shop's category mix (shrinks short histories)
    min_searches: int = 100  # training searches with a click, below which the run is skipped
    # Training searches read (the latest days holding about this many; all of S): bounds the log
    # read and the feature matrix on M (~7k searches x 20 results a day).
    max_train_searches: int = 30_000
    top_queries: int = 100  # frequent queries served per segment
    results_per_query: int = 20
    candidates_per_query: int = 50  # lexical candidates (BM25 > 0, then the top match's category)

    def validate(self) -> None:
        super().validate()
        if self.holdout_days < 1 or self.validation_days < 1:
            raise ValueError("holdout_days and validation_days must be >= 1")
        if self.lookback_days <= self.holdout_days + self.validation_days:
            raise ValueError("lookback_days must exceed holdout_days + validation_days")
        if self.affinity_prior < 0:
            raise ValueError("affinity_prior must be >= 0")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError("hidden must list positive layer sizes")
        if min(self.min_searches, self.top_queries, self.results_per_query, self.candidates_per_query) < 1:
            raise ValueError("min_searches, top_queries, results_per_query, candidates_per_query must be >= 1")
