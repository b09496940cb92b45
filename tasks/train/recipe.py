"""The last steps every recipe shares: compare with the champion, save, register.

Kept apart from the models so that "evaluate the current champion on the new
holdout" is done the same way for all of them: the champion is loaded from the
registry (its own config + preprocessing) and scored on exactly the rows the
new version was evaluated on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any

import torch

from tasks.train import registry
from tasks.train.common import (
    Artefact,
    DataWindow,
    TrainConfig,
    TrainResult,
    load_artefact,
    make_version,
    save_artefact,
)

log = logging.getLogger(__name__)


def champion_metric_on_holdout(
    model_name: str, main_metric: str, evaluate: Callable[[Artefact], dict[str, float]],
) -> float | None:
    """The current champion's ``main_metric`` on the new holdout, or None when there is
    no champion or it cannot be evaluated (then the new version is promoted; logged)."""
    champ = registry.champion(model_name)
    if champ is None:
        return None
    try:
        value = evaluate(load_artefact(champ.artefact_uri))[main_metric]
    except Exception:  # a broken/unreadable champion must not block a fresh model
        log.exception("%s: could not evaluate champion %s on the new holdout", model_name, champ.version)
        return None
    log.info("%s: champion %s scores %s=%.4f on the new holdout", model_name, champ.version,
             main_metric, value)
    return float(value)


def save_and_register(
    *,
    model_name: str,
    as_of_date: date,
    run_id: str,
    cfg: TrainConfig,
    window: DataWindow,
    model: torch.nn.Module,
    preprocessing: dict[str, Any],
    metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
    main_metric: str,
    higher_is_better: bool,
    evaluate_champion: Callable[[Artefact], dict[str, float]],
    extra_metrics: dict[str, Any] | None = None,
) -> TrainResult:
    """Evaluate the champion on the same holdout, write the artefact, register it."""
    champion_value = champion_metric_on_holdout(model_name, main_metric, evaluate_champion)
    version = make_version(model_name, as_of_date, cfg, window)
    art = Artefact(
        model=model_name, version=version, config=cfg.to_dict(), window=window,
        state_dict=model.state_dict(), preprocessing=preprocessing, metrics=metrics,
        baseline_metrics=baselines,
        extra_metrics={"baselines": sorted(baselines), "main_metric": main_metric,
                       "champion_on_holdout": champion_value, **(extra_metrics or {})},
    )
    folder = save_artefact(art)
    status = registry.register(
        model=model_name, version=version, artefact_uri=str(folder), config=cfg.to_dict(),
        window=window, seed=cfg.seed, metrics=metrics, baselines=baselines,
        main_metric=main_metric, higher_is_better=higher_is_better, champion_value=champion_value,
        as_of_date=as_of_date, run_id=run_id,
    )
    return TrainResult(
        model=model_name, status=status, version=version, artefact_uri=str(folder), window=window,
        metrics=metrics, baseline_metrics=baselines,
        champion_metrics=None if champion_value is None else {main_metric: champion_value},
    )
