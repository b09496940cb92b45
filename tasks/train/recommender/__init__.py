"""Next-day recommender: SASRec + neighbourhood signals, mixed by learned weights; a
baseline that beats it is served instead (``docs/recommender.md``).

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.recommender import train; \
               print(train(date(2024, 1, 31), 'manual'))"

1. Data window: product interactions in ``[as_of - lookback_days, as_of)`` from
   ``marts.fct_events`` (view/cart/purchase) and ``marts.fct_order_lines``
   (order lines count as purchases only when the window has no purchase events,
   so a purchase is never counted twice). Item side features come from
   ``marts.dim_products`` (category, list price, title + description) and, for
   items it lacks, ``features.item_features`` (category, 30-day mean price);
   sources without a product table get id-only items.
2. Holdout (daily batch protocol, what ``score_recommendations`` serves): the
   list for day D is computed from interactions before D 00:00. The holdout is
   the last ``min(holdout_days, holdout_fraction x span)`` days (>= 1) of the
   data actually present (``plan_split``; a fixed 7 days on a 9-day clickstream
   left 2 days to train on, issue 14), and the protocol line in the artefact
   says what was used. For every user and every day D of the holdout with
   interactions, the query is the user's history before D and the targets are
   the distinct items (any event type: the same targets for every policy) the
   user interacted with on D. Items first seen in the holdout are sure misses
   for every policy; users without history get popularity (the serving
   fallback) under every policy. Training uses interactions before the split.
3. Model (``strategy = model``): a hybrid. SASRec: item vector = id embedding +
   category + price band + hashed bag-of-words of title/description (each side
   feature is optional: unknown = 0); 1-2 pre-norm causal self-attention blocks
   over the last ``max_history`` items, plus a repeat channel. Every position
   predicts an item of the user's *next active day* (weighted by event type) and,
   with ``next_item_weight``, the user's next item whatever its day (on a week of
   events most users are active on one or two days, so next-day targets alone
   teach less than half of the interactions). Softmax over the full catalogue up
   to ``full_softmax_items``, else sampled (the batch's targets + ``n_negatives``
   uniform items). The served score mixes SASRec's log-softmax with the
   neighbourhood signals (session-kNN, item-kNN, EASE, popularity, the user's own
   recent items, popularity within the user's recent categories) by weights
   learned on the ``holdout`` days *before* the split, every component refitted
   on data before those days (``fit_fusion``): out of sample, a handful of
   weights. On short clickstreams SASRec's weight comes out near zero and the
   mix carries the model; on longer histories (synthetic S) it matters.
4. Baselines on the same queries/targets (``tasks/train/ranking_baselines.py``):
   popularity, item-kNN (co-occurrence), recency-aware session kNN and EASE.
   Baselines are candidates through the registry's shared mechanism
   (``recipe.save_and_register(servable=...)``, docs/CONTRACTS.md "Served baselines"):
   when the best one beats the hybrid on HR@10 it is registered as its own version
   ``recommender-baseline_<name>-<date>-<hash>`` and scoring serves that baseline
   (``policy_ranker``); the serving rows carry that registry version.
5. Metrics: HR@10 (main), NDCG@10, MRR@20, catalogue coverage@10.

``exclude_seen`` (default False) removes items already in a user's history from
every policy's list. It is off because in the data we serve re-buying is the
norm: on UCI Online Retail (a wholesale gift shop) 30 % of next-day items in the
holdout were already in the user's last 200 interactions (14 % in the last 30);
on the synthetic shop 78 % (users return to items they viewed). Excluding them
would make those targets impossible to hit. A shop selling durable goods (one
sofa per customer) should turn it on; evaluation and scoring both honour it.

CPU cost: ``max_train_examples`` caps position updates over all epochs (see
``training_budget``), ``max_train_examples_sampled`` when the sampled softmax is on
(a catalogue over ``full_softmax_items``, or positions x catalogue over
``sampled_softmax_logits``). On the M shop (2.36M positions x 5k items) training is
one pass over every position with 256 sampled negatives; the recipe (two SASRec fits,
baselines, fusion, evaluation) took 298 s alone on 2 cores, 376 s before with the full
softmax over a 1.2M-position sample.

Modules (one responsibility each; this package re-exports their public names, so
``from tasks.train import recommender as rec; rec.train(...)`` works as before):

- ``config``: ``MODEL_NAME``, ``MAIN_METRIC``, ``BASELINES``, ``RecommenderConfig``.
- ``data``: interactions from the marts, popularity, item side features.
- ``sequences``: holdout queries, scoring contexts, training windows.
- ``model``: SASRec, its loss, ``SASRecRanker``.
- ``baselines``: the holdout, baselines and heuristic components, servable baselines.
- ``evaluation``: the split plan and the one scoring function for every policy.
- ``fusion``: the hybrid ranker and its weight fitting.
- ``training``: SASRec fitting within the CPU budget, the vocabulary.
- ``serving``: a version's policy from its artefact, top-k lists with fallbacks.
- ``recipe``: ``fit_and_evaluate`` and ``train`` (the entry point ``pipeline`` calls).
"""

from __future__ import annotations

from tasks.train.recommender.baselines import (
    Holdout,
    build_baselines,
    extra_components,
    make_holdout,
    popularity_ranker,
    servable_baselines,
)
from tasks.train.recommender.config import (
    BASELINES,
    MAIN_METRIC,
    MODEL_NAME,
    RecommenderConfig,
)
from tasks.train.recommender.data import (
    TOKEN_RE,
    ItemSide,
    interactions_from_frames,
    item_side_features,
    popularity,
    read_item_attributes,
    with_index,
)
from tasks.train.recommender.evaluation import (
    SplitPlan,
    eval_batch_size,
    evaluate,
    plan_split,
)
from tasks.train.recommender.fusion import (
    FUSION_FLOOR,
    HybridRanker,
    fit_fusion,
)
from tasks.train.recommender.model import (
    CausalBlock,
    SASRec,
    SASRecRanker,
    make_loss,
    uses_sampled_softmax,
)
from tasks.train.recommender.recipe import (
    Fitted,
    fit_and_evaluate,
    fit_fusion_weights,
    train,
)
from tasks.train.recommender.sequences import (
    TrainChunks,
    build_queries,
    build_train_chunks,
    user_contexts,
)
from tasks.train.recommender.serving import (
    load_model,
    policy_ranker,
    recommend,
    served_policy,
)
from tasks.train.recommender.training import (
    fit_model,
    make_vocab,
    training_budget,
)

__all__ = [
    "BASELINES",
    "CausalBlock",
    "FUSION_FLOOR",
    "Fitted",
    "Holdout",
    "HybridRanker",
    "ItemSide",
    "MAIN_METRIC",
    "MODEL_NAME",
    "RecommenderConfig",
    "SASRec",
    "SASRecRanker",
    "SplitPlan",
    "TOKEN_RE",
    "TrainChunks",
    "build_baselines",
    "build_queries",
    "build_train_chunks",
    "eval_batch_size",
    "evaluate",
    "extra_components",
    "fit_and_evaluate",
    "fit_fusion",
    "fit_fusion_weights",
    "fit_model",
    "interactions_from_frames",
    "item_side_features",
    "load_model",
    "make_holdout",
    "make_loss",
    "uses_sampled_softmax",
    "make_vocab",
    "plan_split",
    "policy_ranker",
    "popularity",
    "popularity_ranker",
    "read_item_attributes",
    "recommend",
    "servable_baselines",
    "served_policy",
    "train",
    "training_budget",
    "user_contexts",
    "with_index",
]
