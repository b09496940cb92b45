"""Served recommendation lists vs what the users bought in the following days: HR@k, NDCG@k,
catalogue coverage.

A list served on ``A`` (``serving.recommendations``, as_of_date ``A``) is judged on the
purchases of ``[A, A + window)`` (purchase events; order lines when the source has no
purchase events, the rule the recommender's training uses), on the monitoring day where that
window closes. Only users who bought something in the window count for HR/NDCG (a user who
bought nothing says nothing about the list); the user's best-ranked purchased item is their
target, scored with the same ``hit_rate_at_k``/``ndcg_at_k`` as training. Coverage is the
share of the catalogue (``marts.dim_products``, else the window's purchased items) shown in
any top-k list.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.train.data import read_interactions
from tasks.train.metrics import catalogue_coverage, hit_rate_at_k, ndcg_at_k
from tasks.warehouse import read_frame, table_exists

MODEL = "recommender"
TABLE = "serving.recommendations"


def purchases(events: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """(user_id, product_id) bought: purchase events, or order lines when there are none."""
    bought = events[events["event_type"] == "purchase"] if not events.empty else events
    if bought.empty:
        bought = lines
    return bought[["user_id", "product_id"]].astype(str).drop_duplicates()


def best_ranks(recs: pd.DataFrame, bought: pd.DataFrame) -> list[int | None]:
    """Per user who bought anything: the best rank of a bought item in their list (None: none)."""
    buyers = set(bought["user_id"]) & set(recs["user_id"].astype(str))
    hits = recs.assign(user_id=recs["user_id"].astype(str), item_id=recs["item_id"].astype(str)).merge(
        bought, left_on=["user_id", "item_id"], right_on=["user_id", "product_id"])
    best = hits.groupby("user_id")["rank"].min()
    return [int(best[u]) if u in best.index else None for u in sorted(buyers)]


def catalogue_size(bought: pd.DataFrame) -> int:
    if table_exists("marts.dim_products"):
        n = int(read_frame("SELECT COUNT(DISTINCT product_id) AS n FROM marts.dim_products")["n"].iloc[0])
        if n:
            return n
    return int(bought["product_id"].nunique())


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    served_on = day + timedelta(days=1) - timedelta(days=cfg.recommendation_window_days)
    start, end = day_start(served_on), day_start(day + timedelta(days=1))
    recs = served_rows(TABLE, "as_of_date = :d", {"d": served_on})
    if recs is None:
        return result.skip(f"{TABLE} does not exist")
    if recs.empty:
        return result.skip(f"no recommendations served on {served_on} (the lists whose "
                           f"{cfg.recommendation_window_days}-day window closes on {day})")
    missing = truth_missing([("marts.fct_events", "event_at"), ("marts.fct_order_lines", "ordered_at")], end)
    if missing:
        return result.skip(missing)
    bought = purchases(*read_interactions(start, end))
    size = catalogue_size(bought)
    for version, part in recs.groupby("model_version", sort=True):
        top = part[part["rank"] <= cfg.top_k]
        ranks = best_ranks(top, bought)
        k = cfg.top_k
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": served_on,
                  "truth_through": end}
        result.add(metric=f"hr@{k}", value=hit_rate_at_k(ranks, k), n_rows=len(ranks), **common)
        result.add(metric=f"ndcg@{k}", value=ndcg_at_k(ranks, k), n_rows=len(ranks), **common)
        lists = [g["item_id"].astype(str).tolist() for _, g in top.groupby("user_id")]
        result.add(metric=f"coverage@{k}", value=catalogue_coverage(lists, size), n_rows=len(lists), **common)
    return result
