"""Campaign uplift: who converts *because of* a campaign, learned from randomised past campaigns.

Recipe (``train(as_of_date, run_id)``)::

    python -c "from datetime import date; from tasks.train.uplift import train; \
               print(train(date(2026, 3, 2), 'manual'))"

Data: every past campaign row (``campaign_exposures``: user, treated or randomised control,
attributed conversion) whose outcome was reported before the as-of instant, with the user's
point-in-time features at the send (``features.History``: activity, affinity to the campaign's
target category, channel; only history strictly before the send).

Holdout (by campaign, in time): campaigns ordered by send time; the latest ``holdout_share``
of them are the holdout (only scored), the ones before that the validation slice (epoch
choice), the rest train. Whole campaigns, so no campaign is split across slices and the
holdout is "the next campaigns", as in production.

Model: a two-head torch net (``model.TwoHeadUpliftNet``; shared trunk, one head per arm),
an ensemble of ``members`` seeds; expected uplift = P(convert | sent) - P(convert | not sent).

Baselines, scored on the same holdout rows:

- ``random``: a seeded random ranking (what "send to anyone" achieves);
- ``segment_rule``: the observed uplift of the user's rule segment in training (fan of the
  target category or not x active or not, ``features.rule_segment``);
- ``propensity``: P(convert | sent) from a GBT on the treated training rows — the classic
  response model that targets people who buy anyway;
- ``t_learner_gbt``: scikit-uplift's ``TwoModels`` (a GBT per arm), the library meta-learner.

Metrics (``metrics.uplift_metrics``): Qini coefficient (main), AUUC, incremental conversions
and uplift at the budget (top ``budget_share`` of each held-out campaign).

Served baselines (``recipe.ServableBaseline``, docs/CONTRACTS.md "Served baselines"): the two
baselines that estimate an *uplift* -- ``segment_rule`` (its per-segment control and treated
conversion rates) and ``t_learner_gbt`` (its two fitted GBTs) -- are servable candidates. When
the better of them beats the net's Qini on the holdout, it is registered as
``campaign_uplift-baseline_<name>-...`` and ``predict`` serves it, so the audiences still come
from the best candidate. ``random`` and ``propensity`` are not servable: they rank users but
estimate no uplift, and the audience keeps only users with a positive expected uplift.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
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
)
from tasks.train.gbt_baseline import fit_gbt, load_estimator, positive_proba
from tasks.train.recipe import ServableBaseline, save_and_register
from tasks.train.tabular import TabularClassifierConfig, TabularSpec
from tasks.train.uplift.features import LOOKBACK_DAYS, SEGMENTS, History, read_exposures, rule_segment
from tasks.train.uplift.metrics import uplift_metrics
from tasks.train.uplift.model import (
    TwoHeadUpliftNet,
    UpliftEnsemble,
    arm_bce,
    arm_probabilities,
    uplift_attributions,
)

log = logging.getLogger(__name__)

MODEL_NAME = "campaign_uplift"
MAIN_METRIC = "qini_auc"
# What input drift is watched on (tasks/monitoring): the uplift features are computed per campaign
# from events and orders, not stored; their user-activity part is what features.user_profile
# profiles every day, so a shift there is a shift in this model's inputs.
FEATURE_TABLE = "features.user_profile"
RANDOM, SEGMENT_RULE, PROPENSITY, T_LEARNER = "random", "segment_rule", "propensity", "t_learner_gbt"
HOLDOUT_PROTOCOL = ("whole campaigns ordered by send time: train | validation (epoch) | holdout (the latest "
                    "campaigns, only scored); features from history strictly before each send")


@dataclass(frozen=True)
class UpliftConfig(TabularClassifierConfig):
    """Defaults set while building the model on synthetic S (docs/audiences.md); ``budget_share`` is
    the share of each held-out campaign's users that counts as its audience in the metrics."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    hidden: tuple[int, ...] = (32, 16)
    dropout: float = 0.1
    members: int = 3
    patience: int = 6
    holdout_share: float = 0.25
    val_share: float = 0.2
    budget_share: float = 0.3
    fan_share: float = 0.15
    min_campaigns: int = 3
    min_rows: int = 200

    def validate(self) -> None:
        super().validate()  # TabularClassifierConfig: layer widths, dropout, holdout_share
        if self.members < 1 or self.patience < 1:
            raise ValueError("members and patience must be >= 1")
        for name in ("holdout_share", "val_share", "budget_share", "fan_share"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1)")
        if self.min_campaigns < 3:
            raise ValueError("min_campaigns must be >= 3 (one each for train, validation and holdout)")


def feature_spec() -> TabularSpec:
    return TabularSpec(
        log_cols=("n_events_30d", "n_sessions_30d", "n_orders_30d", "spend_30d", "n_events_60d",
                  "target_events", "target_orders", "days_since_event", "days_since_order", "tenure_days"),
        plain_cols=("target_share",),
        missing_cols=("days_since_event", "days_since_order"),
        categorical={"channel": []},
        clip=4.0,
    )


def training_rows(exposures: pd.DataFrame) -> pd.DataFrame:
    """One feature row per exposure: the send instant and the campaign's target category."""
    return exposures.assign(at=exposures["exposed_at"],
                            targets=exposures["target_category"].map(lambda c: (c,) if c else ()))


def split_campaigns(frame: pd.DataFrame, cfg: UpliftConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Whole campaigns in send order: train | validation | holdout."""
    order = (frame.groupby("campaign_id")["exposed_at"].min().sort_values(kind="stable").index.tolist())
    n = len(order)
    if n < cfg.min_campaigns:
        raise ValueError(f"only {n} campaigns with reported outcomes (< min_campaigns={cfg.min_campaigns})")
    n_hold = max(1, round(cfg.holdout_share * n))
    n_val = max(1, round(cfg.val_share * n))
    if n - n_hold - n_val < 1:
        n_val = max(1, n - n_hold - 1)
    parts = order[: n - n_hold - n_val], order[n - n_hold - n_val: n - n_hold], order[n - n_hold:]
    return tuple(frame[frame["campaign_id"].isin(p)].reset_index(drop=True) for p in parts)  # type: ignore[return-value]


def segment_rates(frame: pd.DataFrame) -> dict[str, list[float]]:
    """Observed [control, treated] conversion rate per rule segment; a segment missing an arm
    gets the overall rate of that arm for both, so its uplift is 0 (no evidence either way)."""
    overall = float(frame["converted"].mean()) if len(frame) else 0.0
    out = {}
    for seg in SEGMENTS:
        part = frame[frame["segment"] == seg]
        treated = part["is_treated"].astype(bool)
        t, c = part[treated], part[~treated]
        if len(t) and len(c):
            out[seg] = [float(c["converted"].mean()), float(t["converted"].mean())]
        else:
            out[seg] = [overall, overall]
    return out


@dataclass
class Fitted:
    model: UpliftEnsemble
    spec: TabularSpec
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    holdout: pd.DataFrame
    scores: dict[str, np.ndarray]  # candidate -> holdout scores (for tests and docs)
    preprocessing: dict[str, Any]
    loss_history: list[list[float]]
    best_epochs: list[int]
    servable: list[ServableBaseline] = dataclasses.field(default_factory=list)


def _train_member(x: np.ndarray, y: np.ndarray, t: np.ndarray, val: pd.DataFrame, x_val: np.ndarray,
                  cfg: UpliftConfig, seed: int, device: torch.device) -> tuple[TwoHeadUpliftNet, list[float], int]:
    """One net, early-stopped on the validation campaigns' factual log-likelihood."""
    member_cfg = dataclasses.replace(cfg, seed=seed)
    torch.manual_seed(seed)
    net = TwoHeadUpliftNet(x.shape[1], cfg.hidden, cfg.dropout)
    tensors = {"x": torch.as_tensor(x), "y": torch.as_tensor(y, dtype=torch.float32), "t": torch.as_tensor(t)}
    best = {"score": -np.inf, "epoch": 0, "state": {k: v.detach().clone() for k, v in net.state_dict().items()}}
    y_val, t_val = val["converted"].to_numpy(), val["is_treated"].to_numpy().astype(int)

    def after_epoch(epoch: int) -> bool:
        # The factual log-loss, not the validation Qini: on a few hundred rows Qini jumps from
        # epoch to epoch and picked epoch 0 or 1 (S), while the log-loss is smooth.
        p = np.clip(arm_probabilities(net, x_val, device)[np.arange(len(t_val)), t_val], 1e-6, 1 - 1e-6)
        score = float(np.mean(y_val * np.log(p) + (1 - y_val) * np.log1p(-p)))
        if np.isfinite(score) and score > best["score"] + 1e-6:
            best.update(score=score, epoch=epoch, state={k: v.detach().clone() for k, v in net.state_dict().items()})
            return False
        return epoch - best["epoch"] >= cfg.patience

    history = fit(net, tensors, arm_bce, member_cfg, device, after_epoch=after_epoch)
    net.load_state_dict(best["state"])
    return net.eval(), history, int(best["epoch"])


def fit_and_evaluate(frame: pd.DataFrame, cfg: UpliftConfig, device: torch.device) -> Fitted:
    """Split by campaign, fit the two-head ensemble and every baseline, score the same holdout."""
    if len(frame) < cfg.min_rows:
        raise ValueError(f"only {len(frame)} campaign exposures (< min_rows={cfg.min_rows})")
    train_df, val_df, hold_df = split_campaigns(frame, cfg)
    for name, part in (("training", train_df), ("validation", val_df), ("holdout", hold_df)):
        if part["is_treated"].nunique() < 2:
            raise ValueError(f"{name} campaigns lack a treated or a control group; uplift is undefined")
    setup_torch(cfg)
    spec = feature_spec().fit(train_df)
    x_tr, x_va, x_ho = (spec.transform(d) for d in (train_df, val_df, hold_df))
    y_tr, t_tr = train_df["converted"].to_numpy(), train_df["is_treated"].to_numpy().astype(np.int64)
    nets, histories, epochs = [], [], []
    for m in range(cfg.members):
        net, history, epoch = _train_member(x_tr, y_tr, t_tr, val_df, x_va, cfg, cfg.seed + m, device)
        nets.append(net)
        histories.append(history)
        epochs.append(epoch)
    model = UpliftEnsemble(x_tr.shape[1], cfg.hidden, cfg.dropout, cfg.members)
    for target, net in zip(model.members, nets, strict=True):
        target.load_state_dict(net.state_dict())
    model.eval()
    p_ho = arm_probabilities(model, x_ho, device)

    active_cut = float(np.median(train_df["n_sessions_30d"])) if len(train_df) else 1.0
    active_cut = max(active_cut, 1.0)
    for part in (train_df, hold_df):
        part["segment"] = rule_segment(part, cfg.fan_share, active_cut)
    rates = segment_rates(train_df)
    seg_uplift = {seg: treated - control for seg, (control, treated) in rates.items()}
    treated = t_tr == 1
    propensity = fit_gbt(x_tr[treated], y_tr[treated], cfg.seed)
    arms = _t_learner(x_tr, y_tr, t_tr, cfg.seed)
    scores = {
        "learned": p_ho[:, 1] - p_ho[:, 0],
        RANDOM: np.random.default_rng(cfg.seed).random(len(hold_df)),
        SEGMENT_RULE: hold_df["segment"].map(seg_uplift).to_numpy(dtype=float),
        PROPENSITY: positive_proba(propensity, x_ho),
        T_LEARNER: positive_proba(arms[0], x_ho) - positive_proba(arms[1], x_ho),
    }
    evaluated = {name: uplift_metrics(hold_df, s, cfg.budget_share) for name, s in scores.items()}
    preprocessing = {**spec.to_dict(), "kind": "two_head", "members": cfg.members, "fan_share": cfg.fan_share,
                     "active_sessions_cut": active_cut, "segment_uplift": seg_uplift}
    servable = [ServableBaseline(SEGMENT_RULE, None, {"segment_rates": rates}),
                ServableBaseline(T_LEARNER, list(arms))]
    return Fitted(model, spec, evaluated.pop("learned"), evaluated, hold_df, scores, preprocessing,
                  histories, epochs, servable)


def _t_learner(x: np.ndarray, y: np.ndarray, t: np.ndarray, seed: int) -> tuple[Any, Any]:
    """scikit-uplift's TwoModels fitted (one GBT per arm); returns its (treated, control) GBTs.

    Its ``vanilla`` uplift is P(treated GBT) - P(control GBT); the two fitted scikit-learn
    estimators are what a served ``t_learner_gbt`` baseline stores (``save_estimator`` keeps
    only scikit-learn types), so serving and the holdout score the same difference."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklift.models import TwoModels

    def gbt() -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(learning_rate=0.05, max_iter=200, early_stopping=True,
                                              validation_fraction=0.1, n_iter_no_change=20, random_state=seed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = TwoModels(estimator_trmnt=gbt(), estimator_ctrl=gbt(), method="vanilla")
        model.fit(x, y.astype(int), t.astype(int))
        return model.estimator_trmnt, model.estimator_ctrl


# ------------------------------------------------------------- serving ------
def load_model(art: Artefact, device: torch.device) -> tuple[UpliftEnsemble, TabularSpec]:
    cfg = config_from_dict(UpliftConfig, art.config)
    spec = TabularSpec.from_dict(art.preprocessing)
    model = UpliftEnsemble(len(spec.feature_names), cfg.hidden, cfg.dropout, int(art.preprocessing["members"]))
    model.load_state_dict(art.state_dict)
    return model.to(device).eval(), spec


def top_drivers(spec: TabularSpec, attributions: np.ndarray, n: int = 2) -> list[str]:
    """Per row, the ``n`` source columns with the largest |gradient x input| on the uplift, signed."""
    sources = [source for _, source in spec.features()]
    names = list(dict.fromkeys(sources))
    index = np.array([names.index(s) for s in sources])
    per_source = np.zeros((len(attributions), len(names)))
    np.add.at(per_source.T, index, attributions.T)
    out = []
    for row in per_source:
        top = np.argsort(-np.abs(row), kind="stable")[:n]
        out.append(", ".join(f"{names[i]} {'+' if row[i] >= 0 else '-'}" for i in top))
    return out


def baseline_arms(art: Artefact, frame: pd.DataFrame, x: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """(n, 2) [control, treated] conversion probabilities of a served baseline (module docstring)."""
    name = art.serving_strategy.split(":", 1)[1]
    if name == SEGMENT_RULE:
        rates = art.preprocessing["segment_rates"]
        return np.array([rates[s] for s in segment], dtype=float).reshape(len(frame), 2)
    if name == T_LEARNER:
        treated, control = load_estimator(art.folder, art.preprocessing["estimator"])  # type: ignore[arg-type]
        return np.stack([positive_proba(control, x), positive_proba(treated, x)], axis=1)
    raise ValueError(f"{art.version}: baseline {name!r} is not servable (servable: {SEGMENT_RULE}, {T_LEARNER})")


def predict(art: Artefact, frame: pd.DataFrame, device: torch.device) -> pd.DataFrame:
    """expected_uplift, propensity (P(convert | sent)), p_control, segment, reason per feature row,
    from the net or, for a served baseline version, from that baseline (``reason`` names it)."""
    model, spec = load_model(art, device)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("expected_uplift", float), ("propensity", float), ("p_control", float), ("segment", object),
            ("reason", object))})
    x = spec.transform(frame)
    segment = rule_segment(frame, float(art.preprocessing["fan_share"]),
                           float(art.preprocessing["active_sessions_cut"]))
    if art.serving_strategy.startswith("baseline:"):
        p = baseline_arms(art, frame, x, segment)
        why = f"baseline {art.serving_strategy.split(':', 1)[1]} (it beat the net on the holdout)"
        reason = [f"segment: {s}; {why}" for s in segment]
    else:
        p = arm_probabilities(model, x, device)
        drivers = top_drivers(spec, uplift_attributions(model, x, device))
        reason = [f"segment: {s}; top drivers: {d}" for s, d in zip(segment, drivers, strict=True)]
    return pd.DataFrame({"expected_uplift": p[:, 1] - p[:, 0], "propensity": p[:, 1], "p_control": p[:, 0],
                         "segment": segment, "reason": reason}, index=frame.index)


# -------------------------------------------------------------- recipe ------
def read_training_frame(as_of_date: date) -> tuple[pd.DataFrame, DataWindow | None]:
    """Reported exposures before the as-of instant with their point-in-time features."""
    end = as_of_instant(as_of_date)
    exposures = read_exposures(end)
    if exposures.empty:
        return exposures, None
    start = exposures["exposed_at"].min().to_pydatetime() - timedelta(days=LOOKBACK_DAYS)
    history = History.read(start, end)
    return history.features(training_rows(exposures)), DataWindow(start, end)


def train(as_of_date: date, run_id: str, cfg: UpliftConfig | None = None) -> TrainResult:
    """Recipe: exposures + features -> campaign split -> two-head net vs baselines -> register."""
    cfg = cfg or UpliftConfig()
    device = pick_device()
    frame, window = read_training_frame(as_of_date)
    if window is None:
        return TrainResult.skipped(MODEL_NAME, f"no campaign_exposures reported before {as_of_instant(as_of_date)}"
                                   " (the source has no randomised campaign history)")
    try:
        fitted = fit_and_evaluate(frame, cfg, device)
    except ValueError as exc:
        return TrainResult.skipped(MODEL_NAME, str(exc), window)

    def evaluate_champion(art: Artefact) -> dict[str, float]:
        scores = predict(art, fitted.holdout, device)["expected_uplift"].to_numpy()
        return uplift_metrics(fitted.holdout, scores, cfg.budget_share)

    return save_and_register(
        model_name=MODEL_NAME, as_of_date=as_of_date, run_id=run_id, cfg=cfg, window=window,
        model=fitted.model, preprocessing=fitted.preprocessing, metrics=fitted.metrics,
        baselines=fitted.baselines, main_metric=MAIN_METRIC, higher_is_better=True,
        evaluate_champion=evaluate_champion, servable=fitted.servable,
        training_inputs={"exposures": frame.drop(columns=["targets"])},
        extra_metrics={"loss_history": fitted.loss_history, "best_epochs": fitted.best_epochs,
                       "holdout_protocol": HOLDOUT_PROTOCOL,
                       "holdout_campaigns": sorted(fitted.holdout["campaign_id"].unique().tolist())},
    )
