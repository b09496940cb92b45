"""Daily search outputs of the search ranker's champion (issue 13; docs/search.md).

One model, two serving tables, two scorers (``tasks/score/pipeline.py`` lists both, so each
table has its own DAG task, GX suite and dbt view, and each partition records the version that
served it):

- ``serving.search_rankings`` (``score_search_rankings``): for the ``top_queries`` most frequent
  queries of the window, the top ``results_per_query`` products per user segment (``new`` and
  ``top:<category>``), ranked by the version's policy (the learned ranker, or the BM25 baseline
  that beat it on the holdout).
- ``serving.user_category_affinity`` (``score_user_category_affinity``): per user and category
  the smoothed affinity and its lift over the shop's mix, with the version's shrinkage.

Both are daily: the partition ``as_of_date`` is computed from data before ``as_of_date``
00:00 and replaced whole on a re-run (``write_serving``).
"""

from __future__ import annotations

import logging
from datetime import date

from tasks.score.common import daily_scored_at, load_serving_model, write_serving
from tasks.train.common import as_of_instant, config_from_dict, pick_device
from tasks.train.search_ranker.config import SearchRankerConfig
from tasks.train.search_ranker.serving import (
    category_affinities,
    rank_frequent_queries,
    read_serving_inputs,
)

log = logging.getLogger(__name__)

RANKINGS_TABLE = "serving.search_rankings"
AFFINITY_TABLE = "serving.user_category_affinity"


def _inputs(table: str, as_of_date: date, rescore: bool, with_search: bool):  # noqa: ANN202
    """(registry entry, artefact, serving inputs) of the version that serves the partition."""
    entry, art = load_serving_model(table, as_of_date, rescore=rescore)
    cfg = config_from_dict(SearchRankerConfig, art.config)
    return entry, art, read_serving_inputs(as_of_instant(as_of_date), cfg, with_search=with_search)


def score_search_rankings(as_of_date: date, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_date`` partition of serving.search_rankings; returns rows written."""
    entry, art, inputs = _inputs(RANKINGS_TABLE, as_of_date, rescore, with_search=True)
    rankings = rank_frequent_queries(art, inputs, category_affinities(inputs, art.preprocessing), pick_device())
    log.info("search_rankings %s: %d queries x %d segments with %s", as_of_date, rankings["query"].nunique(),
             rankings["segment"].nunique(), entry.version)
    rankings = rankings.assign(as_of_date=as_of_date, model_version=entry.version, run_id=run_id,
                               scored_at=daily_scored_at(as_of_date))
    return write_serving(RANKINGS_TABLE, rankings, {"as_of_date": as_of_date}, model_version=entry.version,
                         run_id=run_id)


def score_user_category_affinity(as_of_date: date, run_id: str, *, rescore: bool = False) -> int:
    """Write the ``as_of_date`` partition of serving.user_category_affinity; returns rows written."""
    entry, art, inputs = _inputs(AFFINITY_TABLE, as_of_date, rescore, with_search=False)
    affinities = category_affinities(inputs, art.preprocessing)
    log.info("user_category_affinity %s: %d users with %s", as_of_date, affinities["user_id"].nunique(),
             entry.version)
    affinities = affinities.assign(as_of_date=as_of_date, model_version=entry.version, run_id=run_id,
                                   scored_at=daily_scored_at(as_of_date))
    return write_serving(AFFINITY_TABLE, affinities, {"as_of_date": as_of_date}, model_version=entry.version,
                         run_id=run_id)
