"""The holdout protocol: where the split falls and how every policy is scored on it.

One function scores the new model, the baselines and the champion, so their numbers are
comparable (same queries, same targets, same cold-start fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from tasks.train.ranking_baselines import Ranker, evaluate_rankers
from tasks.train.recommender.baselines import Holdout, popularity_ranker
from tasks.train.recommender.config import RecommenderConfig
from tasks.train.recommender.sequences import build_queries


def eval_batch_size(n_items: int) -> int:
    """Queries per scoring batch: a (batch x catalogue) float64 matrix per component stays
    near 100 MB on a huge catalogue instead of GBs."""
    return int(max(32, min(1024, 12_000_000 // max(n_items + 1, 1))))


def evaluate(rankers: dict[str, Ranker], vocab: list[str], max_history: int, holdout: Holdout,
             eval_cfg: RecommenderConfig) -> dict[str, dict[str, float]]:
    """Metrics of each ranker on the holdout queries (fixed by ``eval_cfg``: k, target
    sample, exclusion), with the popularity list as every policy's cold-start fallback."""
    queries = build_queries(holdout.inter, vocab, max_history, holdout.split, holdout.end,
                            eval_cfg.max_eval_targets, eval_cfg.seed)
    fallback = popularity_ranker(holdout.popularity, vocab)
    return evaluate_rankers(rankers, queries, fallback, len(vocab), exclude_seen=eval_cfg.exclude_seen,
                            k=eval_cfg.top_k, batch_size=eval_batch_size(len(vocab)))


@dataclass(frozen=True)
class SplitPlan:
    """Where the holdout starts and why: windows follow the data's span, not fixed days."""

    split: datetime
    holdout_days: int
    span_days: float
    first: datetime

    @property
    def protocol(self) -> str:
        return (f"daily batch: history before D 00:00 -> distinct items of day D; data "
                f"{self.first:%Y-%m-%d %H:%M}..{self.split + timedelta(days=self.holdout_days):%Y-%m-%d} "
                f"({self.span_days:.1f} days); holdout = last {self.holdout_days} day(s) "
                f"(min(holdout_days, holdout_fraction x span)); fusion weights on the "
                f"{self.holdout_days} day(s) before it")


def plan_split(inter: pd.DataFrame, end: datetime, cfg: RecommenderConfig) -> SplitPlan:
    """Holdout length from the data's span: ``min(holdout_days, floor(holdout_fraction x
    span))`` days, at least 1. A fixed 7-day holdout on a 9-day clickstream left two days
    to train on and the model collapsed (issue 14)."""
    first = pd.Timestamp(inter["ts"].min()).to_pydatetime(warn=False) if len(inter) else end
    # Days covered (from the first event's 00:00), so 30 days of events count as 30, not 29.99.
    span = max((end - pd.Timestamp(first).floor("D").to_pydatetime()) / timedelta(days=1), 0.0)
    days = int(min(cfg.holdout_days, max(1, int(span * cfg.holdout_fraction))))
    return SplitPlan(end - timedelta(days=days), days, span, first)
