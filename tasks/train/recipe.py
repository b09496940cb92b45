"""The last steps every recipe shares: compare with the champion, save, register.

Kept apart from the models so that "evaluate the current champion on the new
holdout" is done the same way for all of them: the champion is loaded from the
registry (its own config + preprocessing) and scored on exactly the rows the
new version was evaluated on.

Baselines are candidates (docs/CONTRACTS.md "Served baselines"): a recipe passes the
baselines it can serve as ``ServableBaseline``s. When the best of them beats the learned
model on the holdout main metric, it is saved as its own version
(``<model>-baseline_<name>-<date>-<hash>``, ``preprocessing.serving_strategy =
"baseline:<name>"``, its fitted estimator in the artefact folder) and registered next to
the learned version, which the registry then rejects (``rejected_baseline``). Both rows,
their decisions and evaluations are one transaction, written after every artefact file,
under the model's registry lock (``registry.transaction``), and name the champion they were
compared with, so a training that raced another one never replaces a champion it did not beat.

The version string hashes code + config + data (``tasks/train/fingerprints.py``): a recipe
passes the frames it trained on as ``training_inputs``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
from tasks.train.fingerprints import TrainingInput, code_fingerprint, data_fingerprint
from tasks.train.gbt_baseline import save_estimator


@dataclass(frozen=True)
class ServableBaseline:
    """A fitted baseline the recipe's ``predict`` can serve (see module docstring).

    ``name`` is its key in the recipe's ``baselines`` metrics; ``estimator`` a fitted
    scikit-learn object saved with the artefact (None for rule-based baselines); and
    ``preprocessing`` what scoring needs besides the learned model's preprocessing (e.g.
    the baseline's own threshold or calibration, chosen on the same validation slice).
    """

    name: str
    estimator: Any = None
    preprocessing: dict[str, Any] = field(default_factory=dict)


def baseline_version(model_name: str, version: str, baseline: str) -> str:
    """``<model>-<date>-<hash>`` -> ``<model>-baseline_<name>-<date>-<hash>``."""
    return f"{model_name}-baseline_{baseline}-{version[len(model_name) + 1:]}"


def winning_baseline(metrics: dict[str, float], baselines: dict[str, dict[str, float]],
                     servable: Sequence[ServableBaseline], main_metric: str,
                     higher_is_better: bool) -> ServableBaseline | None:
    """The servable baseline that strictly beats the learned model on the holdout (the best
    such one), or None when the learned model is at least as good (ties go to the model)."""
    sign = 1.0 if higher_is_better else -1.0
    learned = registry.finite_or_none(metrics.get(main_metric))
    best: tuple[float, ServableBaseline] | None = None
    for candidate in servable:
        value = registry.finite_or_none((baselines.get(candidate.name) or {}).get(main_metric))
        if value is None or (learned is not None and sign * value <= sign * learned):
            continue
        if best is None or sign * value > sign * best[0]:
            best = (value, candidate)
    return None if best is None else best[1]

log = logging.getLogger(__name__)


def champion_metric_on_holdout(
    model_name: str, main_metric: str, evaluate: Callable[[Artefact], dict[str, float]],
) -> tuple[str | None, float | None]:
    """(the current champion's version, its ``main_metric`` on the new holdout); the value is
    None when there is no champion or it cannot be evaluated (then the new version is promoted;
    logged). The version lets ``register`` notice a champion that changed meanwhile."""
    champ = registry.champion(model_name)
    if champ is None:
        return None, None
    try:
        value = evaluate(load_artefact(champ.artefact_uri))[main_metric]
    except Exception:  # a broken/unreadable champion must not block a fresh model
        log.exception("%s: could not evaluate champion %s on the new holdout", model_name, champ.version)
        return champ.version, None
    log.info("%s: champion %s scores %s=%.4f on the new holdout", model_name, champ.version,
             main_metric, value)
    return champ.version, float(value)


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
    training_inputs: Mapping[str, TrainingInput],
    extra_metrics: dict[str, Any] | None = None,
    servable: Sequence[ServableBaseline] = (),
) -> TrainResult:
    """Evaluate the champion on the same holdout, write the artefact(s), register them.

    ``training_inputs`` are the frames the model was fitted and evaluated on, by name (None:
    an input this run did not have); their content fingerprint is part of the version.
    With ``servable`` baselines, the best one that beats the learned model is registered
    as its own version too (module docstring); the result describes what was served.
    """
    champion_version, champion_value = champion_metric_on_holdout(model_name, main_metric, evaluate_champion)
    fingerprints = {"data_fingerprint": data_fingerprint(training_inputs), "code_fingerprint": code_fingerprint()}
    version = make_version(model_name, as_of_date, cfg, window, data=fingerprints["data_fingerprint"],
                           code=fingerprints["code_fingerprint"])
    common_extra = {"baselines": sorted(baselines), "main_metric": main_metric,
                    "champion_on_holdout": champion_value, "champion_compared": champion_version,
                    **fingerprints, **(extra_metrics or {})}
    art = Artefact(
        model=model_name, version=version, config=cfg.to_dict(), window=window,
        state_dict=model.state_dict(), preprocessing={**preprocessing, "serving_strategy": registry.LEARNED},
        metrics=metrics, baseline_metrics=baselines, extra_metrics=common_extra,
    )
    folder = save_artefact(art)
    winner = winning_baseline(metrics, baselines, servable, main_metric, higher_is_better)
    served = None
    if winner is not None:
        strategy = f"baseline:{winner.name}"
        served_version = baseline_version(model_name, version, winner.name)
        rivals = {**{n: m for n, m in baselines.items() if n != winner.name}, f"learned:{model_name}": metrics}
        served_art = Artefact(
            model=model_name, version=served_version, config=cfg.to_dict(), window=window,
            state_dict=model.state_dict(),  # kept so the artefact loads like any other; not used to score
            preprocessing={**preprocessing, **winner.preprocessing, "serving_strategy": strategy},
            metrics=baselines[winner.name], baseline_metrics=rivals,
            extra_metrics={**common_extra, "learned_version": version, "learned_metrics": metrics},
        )
        served_folder = save_artefact(served_art)
        if winner.estimator is not None:
            served_art.preprocessing["estimator"] = save_estimator(winner.estimator, served_folder)
            served_folder = save_artefact(served_art)  # config.json now names the estimator file
        served = (served_version, served_folder, strategy, rivals)
    # Register last, in one transaction: nothing is visible to a retry unless all of it is.
    with registry.transaction(model_name) as conn:
        status = registry.register(
            model=model_name, version=version, artefact_uri=str(folder),
            config={**cfg.to_dict(), "serving_strategy": registry.LEARNED}, window=window, seed=cfg.seed,
            metrics=metrics, baselines=baselines, main_metric=main_metric, higher_is_better=higher_is_better,
            champion_value=champion_value, as_of_date=as_of_date, run_id=run_id, conn=conn,
            evaluated_champion=champion_version, **fingerprints,
        )
        if served is not None:
            served_version, served_folder, strategy, rivals = served
            status = registry.register(
                model=model_name, version=served_version, artefact_uri=str(served_folder),
                config={**cfg.to_dict(), "serving_strategy": strategy}, window=window, seed=cfg.seed,
                metrics=baselines[winner.name], baselines=rivals,  # type: ignore[union-attr]
                main_metric=main_metric, higher_is_better=higher_is_better, champion_value=champion_value,
                as_of_date=as_of_date, run_id=run_id, conn=conn,
                evaluated_champion=champion_version, **fingerprints,
            )
    # --- monitoring hook (issue 11): store the input reference that drift is measured against
    # (tasks/monitoring/reference_profile.py; logs and never fails training).
    from tasks.monitoring.reference_profile import store_training_reference

    store_training_reference(model_name, [version] + ([served[0]] if served is not None else []), as_of_date)
    # --- end monitoring hook
    if served is not None:
        log.warning("%s: learned model loses to baseline %s on the holdout; registered %s as its candidate",
                    model_name, winner.name, served[0])  # type: ignore[union-attr]
        return TrainResult(
            model=model_name, status=status, version=served[0], artefact_uri=str(served[1]), window=window,
            metrics=baselines[winner.name], baseline_metrics=served[3],  # type: ignore[union-attr]
            champion_metrics=None if champion_value is None else {main_metric: champion_value},
            reason=f"serving strategy {served[2]}: the learned version {version} lost to it on the holdout",
        )
    return TrainResult(
        model=model_name, status=status, version=version, artefact_uri=str(folder), window=window,
        metrics=metrics, baseline_metrics=baselines,
        champion_metrics=None if champion_value is None else {main_metric: champion_value},
    )
