"""When monitoring acts: thresholds per model (``thresholds.yml``) and ``evaluate_thresholds``.

The monitoring tables say how things are; this module says which of that is bad enough to
act on, for one daily partition, as a list of :class:`Breach`:

- ``realised_metric``: a model's realised main metric (``monitoring.realised_metrics``) worse
  than the best baseline's holdout value of the version that served it (``ml.model_registry``
  ``baseline_metrics``), or worse than an absolute limit. Realised and holdout are different
  days, and on a small shop one day's realised value is noisy (synthetic S: the forecaster's
  realised WAPE of single undrifted days ranged 0.83-1.79 around a holdout WAPE of 1.00, so a
  bare "worse than the holdout" fired on 27 of 30 undrifted days; thresholds.yml). So the value judged is pooled over
  the version's last ``window_days`` monitoring days, and the limit allows ``baseline_margin``
  (absolute) plus ``baseline_tolerance`` (relative to the holdout value) of slack;
- ``feature_drift`` / ``prediction_drift``: a column's PSI above the limit (``drift``);
- ``quarantine``: a task's quarantined share on the day above ``max_share``, or ``max_rise``
  above its mean over the previous ``baseline_days`` (``monitoring.pipeline_runs``).

Only what the tables hold is judged: a model skipped by monitoring (no truth yet, no reference)
has no rows and so no breach. The file is validated with ``extra="forbid"``: a misspelt key is
an error naming its key path (``tasks/config_errors.py``), never a silently ignored threshold.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.config_errors import describe
from tasks.monitoring.tables import FEATURE_DRIFT, PREDICTION_DRIFT, REALISED_METRICS
from tasks.partitions import Partition
from tasks.warehouse import read_frame, table_exists

log = logging.getLogger(__name__)

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.yml")

REALISED, FEATURE, PREDICTION, QUARANTINE = "realised_metric", "feature_drift", "prediction_drift", "quarantine"
BreachKind = Literal["realised_metric", "feature_drift", "prediction_drift", "quarantine"]


class ThresholdsError(ValueError):
    """``thresholds.yml`` is not valid; the message names the file and each key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RealisedThreshold(_Strict):
    metric: str  # as in monitoring.realised_metrics
    registry_metric: str | None = None  # the same metric in ml.model_registry; None: no baseline check
    higher_is_better: bool
    absolute_limit: float | None = None  # worst acceptable value
    baseline_margin: float = Field(0.0, ge=0)  # absolute slack over the holdout value
    baseline_tolerance: float = Field(0.0, ge=0)  # relative slack: a share of the holdout value
    window_days: int = Field(1, ge=1)  # pool the version's rows of this many days, ending on the day
    horizon_days: int | None = Field(None, ge=0)  # only rows of this horizon (forecasts)

    def baseline_limit(self, holdout: float) -> float:
        """The worst acceptable realised value given the baseline's holdout value."""
        slack = self.baseline_margin + self.baseline_tolerance * abs(holdout)
        return holdout - slack if self.higher_is_better else holdout + slack


class ModelThresholds(_Strict):
    realised: RealisedThreshold | None = None
    feature_psi_max: float | None = Field(None, gt=0)  # None: the drift default
    prediction_psi_max: float | None = Field(None, gt=0)


class DriftThresholds(_Strict):
    feature_psi_max: float = Field(0.25, gt=0)
    prediction_psi_max: float = Field(0.25, gt=0)
    min_rows: int = Field(50, ge=1)


class QuarantineThresholds(_Strict):
    max_share: float = Field(0.05, ge=0, le=1)
    max_rise: float | None = Field(0.02, ge=0, le=1)
    baseline_days: int = Field(7, ge=1)


class Thresholds(_Strict):
    drift: DriftThresholds = DriftThresholds()
    quarantine: QuarantineThresholds = QuarantineThresholds()
    models: dict[str, ModelThresholds] = {}

    def psi_max(self, model: str, kind: str) -> float:
        own = self.models.get(model, ModelThresholds())
        if kind == FEATURE:
            return own.feature_psi_max or self.drift.feature_psi_max
        return own.prediction_psi_max or self.drift.prediction_psi_max


@dataclass(frozen=True)
class Breach:
    """One threshold crossed on one partition; ``model`` is None for a pipeline breach."""

    model: str | None
    kind: BreachKind
    metric: str  # the metric, or "<column> psi", or "<task> quarantined_share"
    value: float
    limit: float
    reason: str
    model_version: str | None = None

    @property
    def requests_retrain(self) -> bool:
        """A model that went bad is retrained; bad *input data* (quarantine) is not a model's
        fault, and retraining on it would not help: that is alerted only."""
        return self.model is not None and self.kind != QUARANTINE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_thresholds(path: Path | str = THRESHOLDS_FILE) -> Thresholds:
    """The validated thresholds of ``path`` (default: ``tasks/monitoring/thresholds.yml``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ThresholdsError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ThresholdsError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    try:
        return Thresholds.model_validate(raw)
    except ValidationError as exc:
        raise ThresholdsError(f"{path}: " + "; ".join(describe(exc, Thresholds))) from None


@lru_cache(maxsize=1)
def default_thresholds() -> Thresholds:
    return load_thresholds()


def _worse(value: float, limit: float, higher_is_better: bool) -> bool:
    return value < limit if higher_is_better else value > limit


def _rows(table: str, day: Any, first: Any = None) -> pd.DataFrame:
    """Rows of ``day`` (or of ``[first, day]``)."""
    if not table_exists(table):
        return pd.DataFrame()
    return read_frame(f"SELECT * FROM {table} WHERE dt BETWEEN :f AND :d", {"f": first or day, "d": day})


def pooled_value(rows: pd.DataFrame) -> float:
    """One value from realised rows (horizons, days): their mean weighted by ``n_rows``."""
    weights = rows["n_rows"].fillna(1).clip(lower=1).astype(float)
    return float((rows["value"] * weights).sum() / weights.sum())


def _baseline(model: str, version: str, cfg: RealisedThreshold) -> tuple[str, float] | None:
    """(name, holdout value) of the best baseline of ``version``, or None (unknown version or none)."""
    from tasks.train.registry import UnknownVersionError, best_baseline, version_entry

    if cfg.registry_metric is None:
        return None
    try:
        entry = version_entry(model, version)
    except UnknownVersionError as exc:
        log.warning("%s: no baseline comparison: %s", model, exc)
        return None
    return best_baseline(entry.baseline_metrics, cfg.registry_metric, cfg.higher_is_better)


def realised_breaches(partition: Partition, thresholds: Thresholds) -> list[Breach]:
    """Versions with realised rows on the day, judged on their rows of the model's window."""
    widest = max((m.realised.window_days for m in thresholds.models.values() if m.realised), default=1)
    rows = _rows(REALISED_METRICS, partition.dt, partition.dt - timedelta(days=widest - 1))
    out: list[Breach] = []
    for model, own in sorted(thresholds.models.items()):
        cfg = own.realised
        if cfg is None or rows.empty:
            continue
        mine = rows[(rows["model"] == model) & (rows["metric"] == cfg.metric) & rows["value"].notna()]
        mine = mine[pd.to_datetime(mine["dt"]).dt.date > partition.dt - timedelta(days=cfg.window_days)]
        if cfg.horizon_days is not None:
            mine = mine[mine["horizon_days"] == cfg.horizon_days]
        today = mine[pd.to_datetime(mine["dt"]).dt.date == partition.dt]
        for version in sorted(today["model_version"].unique()):
            value = pooled_value(mine[mine["model_version"] == version])  # over horizons and the window
            days = "" if cfg.window_days == 1 else f" (pooled over {cfg.window_days} days)"
            what = f"{model} {version}: realised {cfg.metric} {value:.4f} on {partition.label}{days}"
            if cfg.absolute_limit is not None and _worse(value, cfg.absolute_limit, cfg.higher_is_better):
                out.append(Breach(model, REALISED, cfg.metric, value, cfg.absolute_limit,
                                  f"{what} is worse than the absolute limit {cfg.absolute_limit}", str(version)))
            baseline = _baseline(model, str(version), cfg)
            if baseline is not None:
                name, holdout = baseline
                limit = cfg.baseline_limit(holdout)
                if _worse(value, limit, cfg.higher_is_better):
                    out.append(Breach(model, REALISED, cfg.metric, value, limit,
                                      f"{what} is worse than the best baseline {name}'s holdout "
                                      f"{cfg.registry_metric} {holdout:.4f} allows ({limit:.4f}: margin "
                                      f"{cfg.baseline_margin}, tolerance {cfg.baseline_tolerance:.0%})",
                                      str(version)))
    return out


def drift_breaches(partition: Partition, thresholds: Thresholds) -> list[Breach]:
    out: list[Breach] = []
    for kind, table in ((FEATURE, FEATURE_DRIFT), (PREDICTION, PREDICTION_DRIFT)):
        rows = _rows(table, partition.dt)
        if rows.empty:
            continue
        rows = rows[rows["psi"].notna() & (rows["n_rows"].fillna(0) >= thresholds.drift.min_rows)]
        for r in rows.sort_values(["model", "model_version", "column_name"]).itertuples(index=False):
            limit = thresholds.psi_max(str(r.model), kind)
            if float(r.psi) > limit:
                what = "input" if kind == FEATURE else "output"
                out.append(Breach(
                    str(r.model), kind, f"{r.column_name} psi", float(r.psi), limit,
                    f"{r.model} {r.model_version}: {what} column {r.column_name} of {r.source_table} drifted "
                    f"on {partition.label}: PSI {float(r.psi):.3f} > {limit} over {int(r.n_rows)} rows",
                    str(r.model_version)))
    return out


def quarantine_breaches(partition: Partition, thresholds: Thresholds) -> list[Breach]:
    from tasks.monitoring.pipeline_runs import read_task_runs

    cfg = thresholds.quarantine
    runs = read_task_runs(first=partition.dt - timedelta(days=cfg.baseline_days), last=partition.dt)
    if runs.empty:
        return []
    runs = runs[(runs["rows_in"].fillna(0) > 0) & runs["quarantined"].notna()]
    if runs.empty:
        return []
    daily = runs.groupby(["task", "dt"], as_index=False)[["quarantined", "rows_in"]].sum()
    daily["share"] = daily["quarantined"] / daily["rows_in"]
    out: list[Breach] = []
    for task, part in daily.groupby("task", sort=True):
        today = part[pd.to_datetime(part["dt"]).dt.date == partition.dt]
        if today.empty:
            continue
        share = float(today["share"].iloc[0])
        before = part[pd.to_datetime(part["dt"]).dt.date < partition.dt]["share"]
        metric = f"{task} quarantined_share"
        if share > cfg.max_share:
            out.append(Breach(None, QUARANTINE, metric, share, cfg.max_share,
                              f"{task} quarantined {share:.1%} of its rows on {partition.label} "
                              f"(limit {cfg.max_share:.1%})"))
        elif cfg.max_rise is not None and not before.empty and share - float(before.mean()) > cfg.max_rise:
            limit = float(before.mean()) + cfg.max_rise
            out.append(Breach(None, QUARANTINE, metric, share, limit,
                              f"{task} quarantined {share:.1%} of its rows on {partition.label}, up from a "
                              f"mean {float(before.mean()):.1%} over the previous {len(before)} day(s) "
                              f"(allowed rise {cfg.max_rise:.1%})"))
    return out


def evaluate_thresholds(partition: Partition, thresholds: Thresholds | None = None) -> list[Breach]:
    """Every threshold crossed on the daily ``partition``, from the monitoring tables (read only)."""
    if partition.is_hourly:
        raise ValueError(f"thresholds are judged on daily partitions, got {partition.label}")
    thresholds = thresholds or default_thresholds()
    breaches = (realised_breaches(partition, thresholds) + drift_breaches(partition, thresholds)
                + quarantine_breaches(partition, thresholds))
    for breach in breaches:
        if not math.isfinite(breach.value):  # cannot happen from the tables' filters; fail loudly
            raise ValueError(f"non-finite value in breach {breach}")
        log.warning("threshold breached: %s", breach.reason)
    return breaches
