"""The search ranker recipe: window -> search log + history -> time split -> fit -> evaluate
against BM25 and BM25 + popularity on the same later searches -> register.

The steps and the reasons for them are described in the package docstring
(``tasks/train/search_ranker/__init__.py``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import torch

from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainResult,
    as_of_instant,
    config_from_dict,
    fit,
    pick_device,
    setup_torch,
    standardise_fit,
)
from tasks.train.recipe import ServableBaseline, save_and_register
from tasks.train.search_ranker import policies
from tasks.train.search_ranker.config import MAIN_METRIC, MODEL_NAME, SearchRankerConfig
from tasks.train.search_ranker.data import (
    build_history,
    labelled_rows,
    log_start,
    read_daily_search_counts,
    read_history_inputs,
    read_products,
    read_search_log,
)
from tasks.train.search_ranker.evaluation import Lists, ndcg_at_k, pack, report
from tasks.train.search_ranker.features import (
    FEATURES,
    Catalogue,
    day_number,
    item_features,
    matrix,
    shop_category_share,
    user_features,
)
from tasks.train.search_ranker.model import RowScorer, listwise_loss

log = logging.getLogger(__name__)

HOLDOUT_PROTOCOL = ("searches of the last holdout_days before as-of (later in time than every training "
                    "search), each list re-ranked by every policy; features only from data before the "
                    "search's day; epoch and BM25 + popularity weight picked on the validation_days before")


@dataclass
class Fitted:
    model: RowScorer
    preprocessing: dict[str, Any]
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout: Lists
    loss_history: list[float]
    best_epoch: int
    popularity_weight: float


def feature_rows(rows: pd.DataFrame, catalogue: Catalogue, history: Any, shop_share: dict[str, float],
                 prior: float) -> tuple[np.ndarray, np.ndarray]:
    """(feature matrix, has_history) of labelled rows (search_event_id, query, pos, day, user_key)."""
    pos = rows["pos"].to_numpy()
    days = rows["day"].to_numpy()
    item = item_features(catalogue, history, rows["query"].to_numpy(), pos, days,
                         rows["search_event_id"].to_numpy())
    state = history.user_state(rows["user_key"].to_numpy(), days, catalogue.category[pos], catalogue.brand[pos])
    user = user_features(state, catalogue.category[pos], shop_share, prior, catalogue.price_ratio[pos])
    return matrix({**item, **user}), user["has_history"] > 0


def _with_clicks(lists: Lists) -> Lists:
    return lists.subset((lists.gain > 0).any(axis=1))


def _pick_popularity_weight(val: Lists) -> float:
    """The BM25 + popularity weight with the best validation nDCG@10 (ties: the smaller)."""
    best_w, best = 0.0, -np.inf
    for w in policies.POPULARITY_WEIGHTS:
        value = float(np.nanmean(ndcg_at_k(policies.bm25_popularity_scores(val.x, w), val.gain, val.mask)))
        if value > best + 1e-12:
            best_w, best = w, value
    return best_w


def fit_and_evaluate(log_frame: pd.DataFrame, products: pd.DataFrame, interactions: pd.DataFrame,
                     window: DataWindow, cfg: SearchRankerConfig, device: torch.device) -> Fitted:
    """Split the log by time, fit the ranker on the earliest part, evaluate on the latest."""
    catalogue = Catalogue.from_products(products)
    if not len(catalogue):
        raise ValueError("no products in marts.dim_products: nothing to rank")
    rows = labelled_rows(log_frame, catalogue)
    end_day = int(day_number([window.end])[0])
    hold_start, val_start = end_day - cfg.holdout_days, end_day - cfg.holdout_days - cfg.validation_days
    start_day = int(day_number([window.start])[0])
    history = build_history(rows, interactions, catalogue, start_day)
    shop_share = shop_category_share(interactions[interactions["day"] < val_start])
    x, has_history = feature_rows(rows, catalogue, history, shop_share, cfg.affinity_prior)
    lists = pack(rows, x, has_history)
    first_day = rows.groupby("search_event_id")["day"].first().reindex(lists.search_ids).to_numpy()
    train = _with_clicks(lists.subset(first_day < val_start))
    if len(train) > cfg.max_train_searches:
        train = train.subset(np.arange(len(train) - cfg.max_train_searches, len(train)))
    val = _with_clicks(lists.subset((first_day >= val_start) & (first_day < hold_start)))
    holdout = _with_clicks(lists.subset(first_day >= hold_start))
    if len(train) < cfg.min_searches or not len(val) or not len(holdout):
        raise ValueError(f"too few searches with a click: {len(train)} training (min_searches="
                         f"{cfg.min_searches}), {len(val)} validation, {len(holdout)} holdout")
    setup_torch(cfg)
    mean, std = standardise_fit(train.x[train.mask])
    pre = {"features": list(FEATURES), "mean": mean.tolist(), "std": std.tolist(), "shop_share": shop_share,
           "affinity_prior": cfg.affinity_prior}
    model = RowScorer(len(FEATURES), cfg.hidden).to(device)
    best: dict[str, Any] = {"value": -np.inf, "epoch": 0, "state": copy.deepcopy(model.state_dict())}

    def after_epoch(epoch: int) -> bool:
        value = float(np.nanmean(ndcg_at_k(policies.scores(policies.LEARNED, val.x, pre, model, device),
                                           val.gain, val.mask)))
        if value > best["value"]:
            best.update(value=value, epoch=epoch, state=copy.deepcopy(model.state_dict()))
        return False

    tensors = {"x": torch.as_tensor(policies.standardise(train.x, pre)),
               "gain": torch.as_tensor(train.gain, dtype=torch.float32), "mask": torch.as_tensor(train.mask)}
    history_loss = fit(model, tensors, listwise_loss, cfg, device, after_epoch)
    model.load_state_dict(best["state"])
    model.eval()
    weight = _pick_popularity_weight(val)
    metrics = report(policies.scores(policies.LEARNED, holdout.x, pre, model, device), holdout)
    baselines = {"bm25": report(policies.bm25_scores(holdout.x), holdout),
                 "bm25_popularity": {**report(policies.bm25_popularity_scores(holdout.x, weight), holdout),
                                     "popularity_weight": weight}}
    log.info("search_ranker: model %s; baselines %s", metrics, baselines)
    return Fitted(model, {**pre, "popularity_weight": weight}, metrics, baselines, holdout, history_loss,
                  int(best["epoch"]) + 1, weight)


def load_model(art: Artefact, device: torch.device) -> tuple[RowScorer, SearchRankerConfig]:
    cfg = config_from_dict(SearchRankerConfig, art.config)
    model = RowScorer(len(art.preprocessing.get("features", FEATURES)), cfg.hidden)
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), cfg


def train(as_of_date: date, run_id: str, cfg: SearchRankerConfig | None = None) -> TrainResult:
    """Recipe: window -> search log -> time split -> ranker vs BM25 baselines -> register."""
    cfg = cfg or SearchRankerConfig()
    device = pick_device()
    end = as_of_instant(as_of_date)
    window = DataWindow(end - timedelta(days=cfg.lookback_days), end)
    start = log_start(read_daily_search_counts(window.start, window.end), window.start, window.end,
                      cfg.holdout_days, cfg.validation_days, cfg.max_train_searches)
    log_frame = read_search_log(start, window.end)
    if log_frame.empty:
        return TrainResult.skipped(MODEL_NAME, f"no search impressions in {window.start:%Y-%m-%d} .. "
                                   f"{window.end:%Y-%m-%d} (the source logs no search results)", window)
    products = read_products()
    catalogue = Catalogue.from_products(products)
    interactions = read_history_inputs(window.start, window.end, catalogue)
    try:
        fitted = fit_and_evaluate(log_frame, products, interactions, window, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)
    holdout = fitted.holdout

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        champ, _ = load_model(art, device)
        strategy = policies.strategy_of(art.serving_strategy)
        return report(policies.scores(strategy, holdout.x, art.preprocessing, champ, device), holdout)

    servable = [ServableBaseline("bm25"),
                ServableBaseline("bm25_popularity", preprocessing={"popularity_weight": fitted.popularity_weight})]
    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.preprocessing, metrics=fitted.metrics,
        baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=True,
        evaluate_champion=evaluate_champion,
        training_inputs={"search_log": log_frame, "products": products, "interactions": interactions},
        extra_metrics={"loss_history": fitted.loss_history, "best_epoch": fitted.best_epoch,
                       "holdout_protocol": HOLDOUT_PROTOCOL},
        servable=servable,
    )
