"""Session purchase intent: p_purchase and a browse/compare/buy class per session.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.session_intent import train; \
               print(train(date(2024, 1, 31), 'manual'))"

Two data paths (three kinds), one recipe (the artefact records which one in ``preprocessing.kind``):

* ``sequence`` (sources with a clickstream): rows = the daily
  ``features.session_features`` partition valid at ``as_of_date`` (sessions started
  in ``[as_of - DAILY_ROW_WINDOW_DAYS, as_of)``), label ``has_purchase``; inputs =
  the session's aggregates *and* its event sequence from ``marts.fct_events``
  (event type, log gap to the previous event, log price, price-missing flag,
  repeat-product flag, log time since session start; the last ``seq_len`` events).
  Model: a GRU over the sequence + an MLP over the aggregates, joined in one head.
* ``summaries`` (sources with session summaries only, e.g. UCI Online Shoppers):
  rows = ``marts.fct_session_summaries`` started in ``[as_of - aggregates_window_days,
  as_of)``; model: an ensemble of MLPs over log-scaled + piecewise-linear-binned
  aggregates.

Prediction point and leakage: a session is predicted *before its first purchase*.
Sequences keep only events strictly earlier than the session's first purchase
(``pre_purchase_events``; the same rule ``session_features`` applies to the
aggregates), so neither the purchase event nor anything at or after its instant
(other purchases of the checkout share that instant) reaches the model. Sessions
with no pre-purchase event are dropped (a live scorer never sees them). On top,
with ``random_prefix`` (default) every session is cut at a seeded random point
among its pre-purchase events and its aggregates are recomputed from that prefix
(``random_prefix``, ``prefix_aggregates``) for the model *and* the baselines:
"just before checkout" is a label-dependent cut (every synthetic buyer's input
ended with its cart) that the hourly scorer never sees.

Holdout (``tabular.time_split``): train | validation | holdout by session start,
cuts never splitting one timestamp (month-only data: whole months; Online
Shoppers: holdout = December, validation = November, train = February-October).
The validation slice picks the epoch (by PR-AUC) and, for every scorer
separately, the decision threshold (the F1-optimal cut on validation); the
holdout is only scored.

Baselines on the same rows and aggregate matrix: logistic regression and a GBT
(``gbt_baseline``). They are serving candidates (``recipe.ServableBaseline``): when the
best of them beats the model on the holdout PR-AUC it is registered and served as
``session_intent-baseline_<name>-...`` with its own threshold. Metrics: PR-AUC (main: purchases are a 10-20 % minority and
what matters is how clean the top of the ranking is), ROC-AUC, F1 at the
validation-chosen threshold.

Intent class (observable behaviour only, parameters in the artefact):
``buy`` if p_purchase >= the threshold; else ``compare`` if the session looked at
>= ``compare_min_products`` distinct products (product views for aggregate
sources) within at most ``compare_max_categories`` categories (focused
multi-product browsing); else ``browse``. This mirrors the synthetic shop's
planted intents (docs/synthetic_ground_truth.md: compare sessions are long and
stay in one focus category, browse sessions are short and wander).

Modules (one responsibility each; this package re-exports the names other code imports, so
``from tasks.train import session_intent as si; si.train(...)`` works as before):

- ``config``: names, tables, ``SessionIntentConfig``.
- ``data``: warehouse reads (events of the sessions, session summaries), labelled rows.
- ``events``: the prediction point (pre-purchase events, random prefix), recomputed
  aggregates, event sequences.
- ``features``: the aggregate specs of both data paths, forward arrays of a frame.
- ``model``: ``SequenceIntentNet``, its loss, ``load_model``.
- ``evaluation``: the holdout metrics every scorer reports, threshold choice on validation.
- ``serving``: ``predict`` (p_purchase of the model or a served baseline), ``classify_intent``.
- ``recipe``: ``fit_and_evaluate``, ``train`` (the entry point ``pipeline`` calls), the
  servable baselines.
"""

from __future__ import annotations

from tasks.train.session_intent.config import (
    EVENTS_TABLE,
    FEATURE_TABLE,
    INTENTS,
    MAIN_METRIC,
    MODEL_NAME,
    SUMMARY_TABLE,
    SessionIntentConfig,
)
from tasks.train.session_intent.data import labelled, prepare_summaries, read_events, read_summaries
from tasks.train.session_intent.events import build_sequences, prefix_aggregates, random_prefix
from tasks.train.session_intent.features import model_inputs
from tasks.train.session_intent.recipe import fit_and_evaluate, train
from tasks.train.session_intent.serving import classify_intent, predict

__all__ = [
    "EVENTS_TABLE",
    "FEATURE_TABLE",
    "INTENTS",
    "MAIN_METRIC",
    "MODEL_NAME",
    "SUMMARY_TABLE",
    "SessionIntentConfig",
    "build_sequences",
    "classify_intent",
    "fit_and_evaluate",
    "labelled",
    "model_inputs",
    "predict",
    "prefix_aggregates",
    "prepare_summaries",
    "random_prefix",
    "read_events",
    "read_summaries",
    "train",
]
