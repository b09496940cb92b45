"""The recommender recipe: window -> interactions -> split -> fit -> evaluate -> register.

Glues the other modules of the package together; the steps and the reasons for them are
described in the package docstring (``tasks/train/recommender/__init__.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import torch

from tasks.train.common import Artefact, DataWindow, TrainResult, as_of_instant, pick_device
from tasks.train.data import read_interactions
from tasks.train.ranking_baselines import Ranker
from tasks.train.recipe import save_and_register, winning_baseline
from tasks.train.recommender.baselines import (
    Holdout,
    build_baselines,
    extra_components,
    make_holdout,
    servable_baselines,
)
from tasks.train.recommender.config import MAIN_METRIC, MODEL_NAME, RecommenderConfig
from tasks.train.recommender.data import (
    ItemSide,
    interactions_from_frames,
    item_side_features,
    read_item_attributes,
)
from tasks.train.recommender.evaluation import evaluate, plan_split
from tasks.train.recommender.fusion import HybridRanker, fit_fusion
from tasks.train.recommender.model import SASRec, SASRecRanker
from tasks.train.recommender.sequences import build_queries
from tasks.train.recommender.serving import load_model, policy_ranker, served_policy
from tasks.train.recommender.training import fit_model, make_vocab

log = logging.getLogger(__name__)


@dataclass
class Fitted:
    model: SASRec
    vocab: list[str]
    side: ItemSide
    metrics: dict[str, float]  # the learned recommender (hybrid) on the holdout
    baselines: dict[str, dict[str, float]]
    holdout: Holdout
    loss_history: list[float]
    fusion: dict[str, float]
    sasrec_metrics: dict[str, float]  # SASRec alone, for the record

    @property
    def strategy(self) -> str:
        """What registering this fit serves: ``model``, or the baseline the registry's rule
        (``recipe.winning_baseline``) picks because it beats the model on the main metric."""
        winner = winning_baseline(self.metrics, self.baselines, servable_baselines(self.baselines),
                                  MAIN_METRIC, higher_is_better=True)
        return "model" if winner is None else winner.name


def fit_fusion_weights(inter: pd.DataFrame, split: datetime, days: int, vocab: list[str], side: ItemSide,
                       cfg: RecommenderConfig, device: torch.device) -> dict[str, float]:
    """Fusion weights learned on ``[split - days, split)`` from components trained before it
    (SASRec included, retrained on that shorter history). Falls back to all components
    at weight 1 when the validation window has no history before it."""
    val_split = split - timedelta(days=days)
    before = inter[inter["ts"] < split]
    early = before[before["ts"] < val_split]
    if early.empty or not (before["ts"] >= val_split).any():
        return {"sasrec": 1.0}
    holdout = make_holdout(before, val_split, split, cfg)
    comps: dict[str, Ranker] = dict(build_baselines(early, vocab, holdout, cfg))
    comps.update(extra_components(vocab, side.category, holdout, cfg))
    if cfg.fusion_sasrec:
        try:
            early_model, _ = fit_model(early, vocab, side, cfg, device)
            comps["sasrec"] = SASRecRanker(early_model, device)
        except ValueError:
            log.info("recommender: no SASRec examples before the validation window; fusing baselines only")
    queries = build_queries(before, vocab, cfg.max_history, val_split, split, cfg.max_eval_targets, cfg.seed + 1)
    return fit_fusion(comps, queries, len(vocab), seed=cfg.seed)


def fit_and_evaluate(inter: pd.DataFrame, split: datetime, end: datetime, cfg: RecommenderConfig,
                     device: torch.device, products: pd.DataFrame | None = None,
                     fusion_days: int | None = None) -> Fitted:
    """Train on interactions before ``split``; evaluate model and baselines on ``[split, end)``.

    The learned recommender is the hybrid (``HybridRanker``); its fusion weights come
    from a validation window of ``fusion_days`` (default: the holdout's length) just
    before the split, so nothing of the holdout is used to fit anything.
    """
    train = inter[inter["ts"] < split]
    vocab = make_vocab(train, cfg)
    side = item_side_features(vocab, products if products is not None else pd.DataFrame(), cfg)
    days = fusion_days or max(1, round((end - split) / timedelta(days=1)))
    fusion = fit_fusion_weights(inter, split, days, vocab, side, cfg, device) if cfg.fusion else {"sasrec": 1.0}
    model, history = fit_model(train, vocab, side, cfg, device)
    holdout = make_holdout(inter, split, end, cfg)
    baselines = build_baselines(train, vocab, holdout, cfg)
    sasrec = SASRecRanker(model, device)
    extra = extra_components(vocab, side.category, holdout, cfg)
    hybrid = HybridRanker({"sasrec": sasrec, **extra, **baselines}, fusion)
    rankers: dict[str, Ranker] = {"model": hybrid, "sasrec": sasrec, **extra, **baselines}
    results = evaluate(rankers, vocab, cfg.max_history, holdout, cfg)
    metrics, sasrec_metrics = results.pop("model"), results.pop("sasrec")
    for name in extra:
        log.info("recommender: component %s alone: %s", name, results.pop(name))
    log.info("recommender: model %s (SASRec alone %s); baselines %s", metrics, sasrec_metrics, results)
    return Fitted(model, vocab, side, metrics, results, holdout, history, fusion, sasrec_metrics)


def train(as_of_date: date, run_id: str, cfg: RecommenderConfig | None = None) -> TrainResult:
    """Recipe: window -> interactions -> adaptive split -> fit on pre-holdout -> evaluate the
    hybrid and every baseline -> serve the better of (model, best baseline) -> register.

    Every baseline is a servable candidate (``servable_baselines``): when one beats the
    learned model on the holdout, ``save_and_register`` registers it as its own version and
    that version faces the champion, so a learned model that loses to item-kNN is never
    served.
    """
    cfg = cfg or RecommenderConfig()
    device = pick_device()
    end = as_of_instant(as_of_date)
    window = DataWindow(end - timedelta(days=cfg.lookback_days), end)
    events, lines = read_interactions(window.start, window.end)
    inter = interactions_from_frames(events, lines, cfg)
    plan = plan_split(inter, end, cfg)
    split = plan.split
    n_train, n_hold = int((inter["ts"] < split).sum()), int((inter["ts"] >= split).sum())
    log.info("recommender: %d interactions before the split, %d in the holdout (%s; %s)", n_train, n_hold,
             window, plan.protocol)
    if n_train == 0 or n_hold == 0:
        return TrainResult.skipped(MODEL_NAME, f"{n_train} training / {n_hold} holdout interactions", window)
    # Attributes as known at the split: the holdout must not see item features from its own days.
    products = read_item_attributes(split.date())
    try:
        fitted = fit_and_evaluate(inter, split, end, cfg, device, products, fusion_days=plan.holdout_days)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)
    def evaluate_champion(art: Artefact) -> dict[str, float]:
        # Same targets, fallback list and exclusion; the champion's own policy, vocabulary and
        # history length, its neighbourhood components rebuilt on the new training data.
        champ, vocab, champ_cfg = load_model(art, device)
        champ_strategy, champ_fusion = served_policy(art)
        champ_inter = interactions_from_frames(events, lines, champ_cfg)
        ranker = policy_ranker(champ_strategy, champ, vocab, champ_cfg, champ_fusion,
                               champ_inter[champ_inter["ts"] < split], split, device)
        champ_holdout = Holdout(champ_inter, split, end, fitted.holdout.popularity)
        return evaluate({"model": ranker}, vocab, champ_cfg.max_history, champ_holdout, cfg)["model"]

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model,
        preprocessing={"vocab": fitted.vocab, **fitted.side.to_dict(), "strategy": "model",
                       "fusion": fitted.fusion,
                       "features": ["item_history", "category", "price_band", "title_description_hashed"]},
        metrics=fitted.metrics, baselines=fitted.baselines, servable=servable_baselines(fitted.baselines),
        main_metric=MAIN_METRIC, higher_is_better=True, evaluate_champion=evaluate_champion,
        training_inputs={"events": events, "order_lines": lines, "products": products},
        extra_metrics={"loss_history": fitted.loss_history, "split": split.isoformat(),
                       "holdout_days": plan.holdout_days, "span_days": plan.span_days,
                       "fusion": fitted.fusion, "sasrec_metrics": fitted.sasrec_metrics,
                       "protocol": plan.protocol},
    )
