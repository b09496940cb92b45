"""Personalised search ranking: a learned re-ranker over lexical candidates (issue 13; docs/search.md).

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.search_ranker import train; \
               print(train(date(2026, 3, 2), 'manual'))"

1. Data window ``[as_of - lookback_days, as_of)``: the search log (shown results with clicks
   and purchases, ``staging.stg_raw__search_impressions`` joined with the search events of
   ``marts.fct_events``), the catalogue (``marts.dim_products``) and product interactions.
   Sources without search result logs skip with that reason (``tasks/applicability.py``).
2. Split by time: the last ``holdout_days`` of searches are the holdout, the
   ``validation_days`` before them pick the epoch and the BM25 + popularity weight, the
   rest trains. Only searches with at least one click are judged (a list without any
   relevant result scores the same under every order).
3. Features (``features.py``), all from data before the search's day: BM25 over title +
   description from ``rank_bm25`` and query coverage of title/description/brand; product
   popularity and price relative to its category; the user's category affinity (shrunk to
   the shop's mix), history size and price preference from earlier clicks.
4. Model (``model.py``): an MLP scores every (search, product) row; ListNet's listwise loss
   on graded gains (purchase 2, click 1); the epoch with the best validation nDCG@10.
5. Baselines on the same holdout lists (``policies.py``): ``bm25`` (rank_bm25 alone) and
   ``bm25_popularity`` (BM25 share of the list's best + w x log popularity, w on
   validation). Both are servable candidates: one that beats the model is registered and
   served instead (``recipe.save_and_register``).
6. Metrics (``evaluation.py``): nDCG@10 with gains 2^g - 1 (main) and MRR of the first
   clicked result, overall, for users with history before the day and for new users
   (first-time or anonymous searchers).

Scoring (``tasks/score/search_rankings.py``) writes ``serving.search_rankings`` (ranked
products for the frequent queries per user segment) and ``serving.user_category_affinity``
(per-user category affinities to boost with at query time).
"""

from __future__ import annotations

from tasks.train.search_ranker.config import BASELINES, MAIN_METRIC, MODEL_NAME, SearchRankerConfig
from tasks.train.search_ranker.recipe import Fitted, fit_and_evaluate, load_model, train

__all__ = ["BASELINES", "MAIN_METRIC", "MODEL_NAME", "Fitted", "SearchRankerConfig", "fit_and_evaluate",
           "load_model", "train"]
