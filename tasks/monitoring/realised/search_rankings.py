"""Served search rankings vs what searchers clicked that day: realised nDCG@k.

The rankings served on day ``A`` (``serving.search_rankings``, as_of_date ``A``) are judged on
the searches of ``[A, A + 1)`` whose query was served for the searcher's segment (``top:<category>``
from the same day's ``serving.user_category_affinity``, else ``new``). Each such search's shown
list is re-ordered as the engine would with the served list pinned (served products by served rank,
then the other shown products in shown order) and scored with the training's graded nDCG@k
(purchase 2, click 1) on that search's clicks. ``ndcg@k_shown_order`` scores the order the shop
actually showed on the same searches; it is favoured by position bias (people click what is on
top), so it is a reference, not a baseline the served lists must beat.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from tasks.monitoring.realised.common import Evaluation, RealisedConfig, day_start, served_rows, truth_missing
from tasks.train.search_ranker.data import IMPRESSIONS_TABLE, read_search_log
from tasks.train.search_ranker.evaluation import ndcg_at_k, pack
from tasks.train.search_ranker.serving import NEW_SEGMENT

MODEL = "search_ranker"
TABLE = "serving.search_rankings"
AFFINITY_TABLE = "serving.user_category_affinity"
NOT_SERVED = 10**6  # rank offset of shown products the served list does not hold


def judged_searches(log: pd.DataFrame, rankings: pd.DataFrame, segments: pd.Series) -> pd.DataFrame:
    """Shown results of the searches whose (segment, query) was served, with the served rank
    (``NOT_SERVED`` + shown position when the served list lacks the product) and the gain."""
    rows = log.assign(segment=log["user_id"].map(segments).fillna(NEW_SEGMENT).to_numpy())
    served = rankings[["segment", "query", "product_id", "rank"]].astype({"product_id": str})
    keys = served[["segment", "query"]].drop_duplicates()
    rows = rows.merge(keys, on=["segment", "query"])
    rows = rows.assign(product_id=rows["product_id"].astype(str)).merge(
        served, on=["segment", "query", "product_id"], how="left")
    position = rows["position"].to_numpy(dtype=float)
    rows["served_rank"] = np.where(rows["rank"].notna(), rows["rank"].to_numpy(dtype=float), NOT_SERVED + position)
    bought, clicked = rows["is_purchased"].astype(bool), rows["is_clicked"].astype(bool)
    rows["gain"] = np.where(bought, 2.0, np.where(clicked, 1.0, 0.0))
    return rows


def evaluate(day: date, cfg: RealisedConfig) -> Evaluation:
    result = Evaluation(MODEL)
    rankings = served_rows(TABLE, "as_of_date = :d", {"d": day})
    if rankings is None:
        return result.skip(f"{TABLE} does not exist")
    if rankings.empty:
        return result.skip(f"no search rankings served on {day}")
    start, end = day_start(day), day_start(day + timedelta(days=1))
    missing = truth_missing([(IMPRESSIONS_TABLE, "searched_at")], end)
    if missing:
        return result.skip(missing)
    affinity = served_rows(AFFINITY_TABLE, "as_of_date = :d AND rank = 1", {"d": day})
    segments = (pd.Series(dtype=str) if affinity is None or affinity.empty else
                pd.Series(("top:" + affinity["category"].astype(str)).to_numpy(),
                          index=affinity["user_id"].astype(str).to_numpy()))
    log = read_search_log(start, end)
    k = cfg.top_k
    for version, part in rankings.groupby("model_version", sort=True):  # one per partition, in practice
        rows = judged_searches(log, part, segments)
        rows = rows[rows.groupby("search_event_id")["gain"].transform("max") > 0]
        common = {"model_version": str(version), "output_table": TABLE, "output_as_of_date": day,
                  "truth_through": end}
        if rows.empty:
            result.add(metric=f"ndcg@{k}", value=float("nan"), n_rows=0, **common)
            continue
        x = np.stack([-rows["served_rank"].to_numpy(dtype=float), -rows["position"].to_numpy(dtype=float)], axis=1)
        lists = pack(rows.assign(pos=rows["position"].astype(int)), x, np.zeros(len(rows), dtype=bool))
        for metric, column in ((f"ndcg@{k}", 0), (f"ndcg@{k}_shown_order", 1)):
            value = float(np.nanmean(ndcg_at_k(lists.x[:, :, column].astype(float), lists.gain, lists.mask, k)))
            result.add(metric=metric, value=value, n_rows=len(lists), **common)
    return result
