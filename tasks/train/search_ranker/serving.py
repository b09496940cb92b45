"""What the scorer serves from a search ranker version: per-user category affinities and
ranked products for the frequent queries per user segment.

A search engine cannot call a torch model per keystroke, so the batch output is what it can
use at query time (docs/search.md): for the queries most searched in the window, the ranked
products per user segment (exact-match lookup), and for every user their category affinity
(a boost in the engine's function score for any other query).

Segments: ``new`` (no product interactions in the window: the shop's category mix) and
``top:<category>`` (users whose largest smoothed affinity is that category). A segment ranks
with the mean history of its members, through the same features and policy as a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch

from tasks.train.common import Artefact
from tasks.train.search_ranker import policies
from tasks.train.search_ranker.config import SearchRankerConfig
from tasks.train.search_ranker.data import (
    LOG_COLUMNS,
    build_history,
    labelled_rows,
    read_frequent_queries,
    read_history_inputs,
    read_products,
    read_search_log,
)
from tasks.train.search_ranker.features import (
    MIN_SHARE,
    Catalogue,
    History,
    day_number,
    item_features,
    matrix,
    user_features,
)
from tasks.train.search_ranker.recipe import load_model

NEW_SEGMENT = "new"


@dataclass
class ServingInputs:
    catalogue: Catalogue
    history: History
    queries: list[str]  # the frequent queries of the window, most searched first
    as_of_day: int


def read_serving_inputs(as_of: datetime, cfg: SearchRankerConfig, *, with_search: bool = True) -> ServingInputs:
    """The catalogue and the window's history as known at ``as_of``; ``with_search``: also the
    users' clicked results and the frequent queries (the affinities need neither)."""
    start = as_of - timedelta(days=cfg.lookback_days)
    catalogue = Catalogue.from_products(read_products())
    interactions = read_history_inputs(start, as_of, catalogue)
    clicked = read_search_log(start, as_of, clicked_only=True) if with_search else pd.DataFrame(
        columns=LOG_COLUMNS)
    rows = labelled_rows(clicked, catalogue)
    queries = read_frequent_queries(start, as_of, cfg.top_queries) if with_search else []
    start_day = int(day_number([start])[0])
    return ServingInputs(catalogue, build_history(rows, interactions, catalogue, start_day), queries,
                         int(day_number([as_of])[0]))


def category_affinities(inputs: ServingInputs, preprocessing: dict[str, Any]) -> pd.DataFrame:
    """user_id, category, affinity (smoothed share of the user's interactions), lift (affinity
    over the shop's share), n_interactions, rank: every category a user interacted with before
    as-of, in the artefact's shrinkage (prior and shop mix)."""
    inter = inputs.history.interactions
    cols = ["user_id", "category", "affinity", "lift", "n_interactions", "rank"]
    if inter.empty:
        return pd.DataFrame(columns=cols)
    shop_share: dict[str, float] = preprocessing.get("shop_share", {})
    prior = float(preprocessing.get("affinity_prior", SearchRankerConfig().affinity_prior))
    counts = inter.groupby(["user_id", "category"]).size().rename("n_interactions").reset_index()
    counts = counts[counts["category"] != ""]
    total = counts.groupby("user_id")["n_interactions"].transform("sum").to_numpy(dtype=float)
    base = np.array([max(shop_share.get(c, MIN_SHARE), MIN_SHARE) for c in counts["category"]])
    affinity = (counts["n_interactions"].to_numpy(dtype=float) + prior * base) / (total + prior)
    out = counts.assign(affinity=affinity, lift=np.log(affinity / base))
    out = out.sort_values(["user_id", "affinity", "category"], ascending=[True, False, True], kind="stable")
    out["rank"] = out.groupby("user_id").cumcount() + 1
    return out[cols].reset_index(drop=True)


def user_segments(affinities: pd.DataFrame) -> pd.Series:
    """user_id -> ``top:<category>`` (the user's rank-1 affinity)."""
    top = affinities[affinities["rank"] == 1]
    return pd.Series(("top:" + top["category"]).to_numpy(), index=top["user_id"].to_numpy())


def _segment_state(inputs: ServingInputs, segments: pd.Series, categories: np.ndarray,
                   brands: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per segment, its members' mean history at as-of, for each candidate's category and brand
    (sums over the members divided by their number: no per-member rows, so M stays small)."""
    n = len(categories)
    size = segments.value_counts()
    inter = inputs.history.interactions.assign(segment=lambda f: f["user_id"].map(segments))
    clicks = inputs.history.clicks.assign(segment=lambda f: f["user_id"].map(segments))
    total = inter.groupby("segment").size()
    by_cat = inter.groupby(["segment", "category"]).size()
    price_sum = clicks.groupby("segment")["price_ratio"].sum()
    n_clicks = clicks.groupby("segment").size()
    by_brand = clicks.groupby(["segment", "brand"]).size()
    states = {NEW_SEGMENT: {k: np.zeros(n) for k in ("total", "in_category", "price_sum", "n_clicks",
                                                     "brand_clicks")}}
    for segment, members in size.items():
        def mean_of(series: pd.Series, keys: np.ndarray | None = None, segment: str = segment,
                    members: int = members) -> np.ndarray:
            if keys is None:
                return np.full(n, float(series.get(segment, 0.0)) / members)
            index = pd.MultiIndex.from_arrays([np.full(n, segment, dtype=object), keys])
            return series.reindex(index).fillna(0.0).to_numpy(dtype=float) / members
        states[str(segment)] = {"total": mean_of(total), "in_category": mean_of(by_cat, categories),
                                "price_sum": mean_of(price_sum), "n_clicks": mean_of(n_clicks),
                                "brand_clicks": mean_of(by_brand, brands)}
    return states


def rank_frequent_queries(art: Artefact, inputs: ServingInputs, affinities: pd.DataFrame,
                          device: torch.device) -> pd.DataFrame:
    """segment, query, rank, product_id, score for the frequent queries under the version's policy."""
    model, cfg = load_model(art, device)
    strategy = policies.strategy_of(art.serving_strategy)
    pre = art.preprocessing
    cols = ["segment", "query", "rank", "product_id", "score"]
    queries = inputs.queries
    cat = inputs.catalogue
    if not queries:
        return pd.DataFrame(columns=cols)
    cand = [cat.index.candidates(q, cat.category, cfg.candidates_per_query) for q in queries]
    pos = np.concatenate(cand)
    list_ids = np.repeat(np.arange(len(queries)), [len(c) for c in cand])
    query_col = np.array(queries, dtype=object)[list_ids]
    days = np.full(len(pos), inputs.as_of_day)
    item = item_features(cat, inputs.history, query_col, pos, days, list_ids)
    states = _segment_state(inputs, user_segments(affinities), cat.category[pos], cat.brand[pos])
    prior = float(pre.get("affinity_prior", cfg.affinity_prior))
    frames = []
    for segment, state in states.items():
        user = user_features(state, cat.category[pos], pre.get("shop_share", {}), prior, cat.price_ratio[pos])
        score = policies.scores(strategy, matrix({**item, **user}), pre, model, device)
        frame = pd.DataFrame({"segment": segment, "query": query_col, "product_id": cat.index.product_ids[pos],
                              "score": score, "_list": list_ids, "_pos": pos})
        frame = frame.sort_values(["_list", "score", "_pos"], ascending=[True, False, True], kind="stable")
        frame["rank"] = frame.groupby("_list").cumcount() + 1
        frames.append(frame[frame["rank"] <= cfg.results_per_query])
    return pd.concat(frames, ignore_index=True)[cols]
