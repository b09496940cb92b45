"""The model registry (``ml.model_registry``) and evaluation log (``ml.evaluations``).

Scoring finds models here, never by path. One model's registry rows are
rewritten together with ``replace_partition`` keyed on ``model``: promoting a
new champion and retiring the old one happen in one transaction, and
re-registering the same version replaces its row instead of adding a second.

Promotion rule: a new version must first pass the sanity checks
(``sanity_failures``: finite main metric, a non-empty holdout); one that fails
stays ``challenger`` whatever its score. A sane version becomes ``champion`` when
the model has no champion, or when its main metric on the *new* holdout beats
the current champion's on that same holdout by ``settings.promotion_margin``
(direction-aware: for a lower-is-better metric such as WAPE "better" means
lower). Otherwise it stays ``challenger``. The old champion becomes ``retired``
on promotion.

Baselines are candidates, not yardsticks: a version that loses to the best of its
``baselines`` on the holdout main metric is never promoted, not even as the first
version (decision ``rejected_baseline``). A recipe that can serve a baseline registers
it as its own version (``serving_strategy = "baseline:<name>"``, version
``<model>-baseline_<name>-<date>-<hash>``; ``tasks/train/recipe.py``), so promotion
picks whatever wins on the holdout, learned or not. See docs/CONTRACTS.md.

Registration is atomic: the registry rows, the decision and the evaluations of one
training run are written in one transaction (``register`` takes the caller's
connection to add more), after the artefact files. A task that fails before the commit
leaves no row that could make its retry skip training; one that fails after it (e.g.
returning its summary) finds its own completed registration (``registered_by_run``).
Metrics are stored JSON-safe: NaN/inf (a metric that could not be computed) become null.

Every decision (promoted, kept the champion, failed sanity, rolled back, re-scored) is a row
in ``ml.promotion_log`` with its reason, so "why is this version serving?" has
an answer in the warehouse. ``rollback`` re-activates the previous champion.

Concurrency: ``register`` and ``rollback`` hold the model's registry lock
(``tasks/train/registry_lock.py``) from before they read the model's rows until their
transaction commits, so two trainings of one model registering at once are serialised: both
rows survive and exactly one is champion. A caller that passes its own connection gets it from
``transaction(model)``. ``register`` also refuses to promote over a champion it was not compared
with (``evaluated_champion``): when another training promoted a new champion after this one
measured the old champion on its holdout, the new version stays challenger (``kept_champion``,
reason says why) instead of replacing a champion it never beat.

Each version records ``data_fingerprint`` and ``code_fingerprint`` (``tasks/train/fingerprints.py``),
which its version string also hashes. ``version_entry`` loads any registered version by its
version string, not only the champion: point-in-time scoring (``tasks/score/serving_versions.py``)
re-scores a past partition with the version that served it.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tasks.contracts import operations_schema
from tasks.settings import get_settings
from tasks.train.common import DataWindow, json_safe
from tasks.train.registry_lock import lock_model, transaction
from tasks.warehouse import read_frame, replace_partition, table_columns, table_exists

log = logging.getLogger(__name__)

REGISTRY_TABLE = "ml.model_registry"
EVALUATIONS_TABLE = "ml.evaluations"

PROMOTION_LOG_TABLE = "ml.promotion_log"
# Columns and SQL types in write order, declared in tasks/contracts/operations_schema.py.
REGISTRY_TYPES = operations_schema.sql_types(REGISTRY_TABLE)
EVALUATION_TYPES = operations_schema.sql_types(EVALUATIONS_TABLE)
PROMOTION_LOG_TYPES = operations_schema.sql_types(PROMOTION_LOG_TABLE)
STATUSES = operations_schema.REGISTRY_STATUSES  # champion | challenger | retired
_UNCHECKED = object()  # register(evaluated_champion=...) not given: the caller did not say
LEARNED = "learned"  # serving_strategy of a trained model; "baseline:<name>" for a served baseline


class RollbackError(RuntimeError):
    """There is no earlier champion to go back to."""


class UnknownVersionError(LookupError):
    """A version string that ``ml.model_registry`` does not hold for that model."""


@dataclass(frozen=True)
class RegistryEntry:
    """One registered model version (a row of ``ml.model_registry``)."""

    model: str
    version: str
    artefact_uri: str
    config: dict[str, Any]
    data_start: datetime
    data_end: datetime
    seed: int
    metrics: dict[str, float]
    baseline_metrics: dict[str, dict[str, float]]  # baseline name -> its metrics
    status: str
    trained_at: datetime | None
    promoted_at: datetime | None
    promoted_by: str | None
    data_fingerprint: str | None = None  # None: registered before fingerprints were recorded
    code_fingerprint: str | None = None

    @property
    def window(self) -> DataWindow:
        return DataWindow(self.data_start, self.data_end)


def _to_json(values: dict[str, Any]) -> str:
    """NaN/inf are not JSON: stored as null ("metric unavailable"), nested dicts included."""
    return json.dumps(json_safe(values), sort_keys=True, default=str, allow_nan=False)


def finite_or_none(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, not a number, NaN or infinite."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def serving_strategy(entry: RegistryEntry) -> str:
    """``learned`` or ``baseline:<name>``: what a version serves (from its config)."""
    return str(entry.config.get("serving_strategy", LEARNED))


def _ts(value: Any) -> datetime | None:
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    return pd.Timestamp(value).to_pydatetime()


def _text_or_none(value: Any) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _row_to_entry(row: pd.Series) -> RegistryEntry:
    return RegistryEntry(
        model=row["model"], version=row["version"], artefact_uri=row["artefact_uri"],
        config=json.loads(row["config"] or "{}"),
        data_start=_ts(row["data_start"]), data_end=_ts(row["data_end"]),  # type: ignore[arg-type]
        seed=int(row["seed"]), metrics=json.loads(row["metrics"] or "{}"),
        baseline_metrics=json.loads(row["baseline_metrics"] or "{}"), status=row["status"],
        trained_at=_ts(row["trained_at"]), promoted_at=_ts(row["promoted_at"]),
        promoted_by=row["promoted_by"], data_fingerprint=_text_or_none(row["data_fingerprint"]),
        code_fingerprint=_text_or_none(row["code_fingerprint"]),
    )


def _model_rows(model: str, conn: sa.Connection | None = None) -> pd.DataFrame:
    """The model's registry rows; with ``conn``, as that (maybe uncommitted) transaction sees them."""
    sql = "SELECT * FROM ml.model_registry WHERE model = :m ORDER BY trained_at, version"
    if conn is None:
        if not table_exists(REGISTRY_TABLE):
            return pd.DataFrame(columns=list(REGISTRY_TYPES))
        frame = read_frame(sql, {"m": model})
    else:
        if table_columns(conn, REGISTRY_TABLE) is None:
            return pd.DataFrame(columns=list(REGISTRY_TYPES))
        result = conn.execute(sa.text(sql), {"m": model})
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    return frame.reindex(columns=list(REGISTRY_TYPES))


def entries(model: str) -> list[RegistryEntry]:
    """Every registered version of ``model`` (oldest first)."""
    return [_row_to_entry(r) for _, r in _model_rows(model).iterrows()]


def champion(model: str) -> RegistryEntry | None:
    """The version scoring should use, or None when the model was never promoted."""
    found = [e for e in entries(model) if e.status == "champion"]
    if len(found) > 1:  # cannot happen through register(); fail loudly if edited by hand
        raise RuntimeError(f"{model}: {len(found)} champions in {REGISTRY_TABLE}")
    return found[0] if found else None


def version_entry(model: str, version: str) -> RegistryEntry:
    """The registry row of one version of ``model``, whatever its status (champion or not).

    Raises ``UnknownVersionError`` naming the model and the versions it has when there is none.
    """
    if not table_exists(REGISTRY_TABLE):
        raise UnknownVersionError(f"{model} {version}: {REGISTRY_TABLE} does not exist yet")
    frame = read_frame("SELECT * FROM ml.model_registry WHERE model = :m AND version = :v",
                       {"m": model, "v": version}).reindex(columns=list(REGISTRY_TYPES))
    if frame.empty:
        known = [e.version for e in entries(model)]
        raise UnknownVersionError(f"{model}: no version {version!r} in {REGISTRY_TABLE} "
                                  f"(registered: {known or 'none'})")
    return _row_to_entry(frame.iloc[0])


def registered_by_run(model: str, run_id: str) -> RegistryEntry | None:
    """The version this training run registered (its decision is committed with the row), if any.

    A retried task uses it to report its own completed registration instead of training again
    or calling a fresh model "not due".
    """
    log = decisions(model)
    mine = log[log["decided_by"] == f"auto:{run_id}"] if not log.empty else log
    if mine.empty:
        return None
    versions = set(mine["version"])
    found = [e for e in entries(model) if e.version in versions]
    # Prefer what this run put into service (the champion), else the latest it registered.
    found.sort(key=lambda e: (e.status == "champion", e.trained_at or datetime.min))
    return found[-1] if found else None


def is_training_due(model: str, as_of_date: date) -> bool:
    """True when ``model`` has no champion or its champion's data is at least
    ``settings.train_every_days`` old at ``as_of_date``.

    Age is measured from the champion's data end (its training as_of), not the
    wall clock, so backfills and re-runs decide the same way.
    """
    champ = champion(model)
    if champ is None:
        return True
    age_days = (as_of_date - champ.data_end.date()).days
    return age_days >= get_settings().train_every_days


def should_promote(new_value: float, champion_value: float | None, *, higher_is_better: bool,
                   margin: float) -> bool:
    """The promotion rule on one main metric (see module docstring).

    A new value that is NaN never beats a champion; a champion that could not be
    evaluated on the new holdout (None/NaN) is replaced.
    """
    if champion_value is None or math.isnan(champion_value):
        return True
    if math.isnan(new_value):
        return False
    if higher_is_better:
        return new_value >= champion_value + margin
    return new_value <= champion_value - margin


def sanity_failures(metrics: dict[str, float], main_metric: str) -> list[str]:
    """Reasons a trained version must not serve, whatever its score (empty = sane)."""
    problems = []
    value = metrics.get(main_metric)
    if value is None or not math.isfinite(float(value)):
        problems.append(f"main metric {main_metric} is {value!r}, not a finite number")
    for size_key in ("n_holdout", "n_targets", "n_series"):
        if size_key in metrics and not metrics[size_key] > 0:
            problems.append(f"empty holdout ({size_key} = {metrics[size_key]})")
    return problems


def best_baseline(baselines: dict[str, dict[str, float]], main_metric: str,
                  higher_is_better: bool) -> tuple[str, float] | None:
    """The strongest baseline on the main metric, or None when there is none."""
    scored = [(name, value) for name, m in baselines.items()
              if (value := finite_or_none((m or {}).get(main_metric))) is not None]
    if not scored:
        return None
    return max(scored, key=lambda item: item[1] if higher_is_better else -item[1])


def log_decision(*, model: str, version: str, decision: str, reason: str, main_metric: str | None,
                 value: float | None, champion_version: str | None, champion_value: float | None,
                 decided_by: str, decided_at: datetime | None = None,
                 conn: sa.Connection | None = None) -> None:
    """Append one decision to ``ml.promotion_log`` (keyed by model, version, decision, decided_by,
    so re-running the same training run replaces its row instead of adding one)."""
    row = pd.DataFrame([{
        "model": model, "version": version, "decision": decision, "reason": reason,
        "main_metric": main_metric, "value": finite_or_none(value), "champion_version": champion_version,
        "champion_value": finite_or_none(champion_value), "decided_by": decided_by,
        "decided_at": decided_at or datetime.now(UTC).replace(tzinfo=None),
    }])
    for col in ("value", "champion_value"):
        row[col] = pd.to_numeric(row[col], errors="coerce").astype(float)
    row["decided_at"] = pd.to_datetime(row["decided_at"])
    replace_partition(PROMOTION_LOG_TABLE, row[list(PROMOTION_LOG_TYPES)],
                      {"model": model, "version": version, "decision": decision, "decided_by": decided_by},
                      column_types=PROMOTION_LOG_TYPES, conn=conn)
    log.info("%s %s: %s (%s)", model, version, decision, reason)


def decisions(model: str) -> pd.DataFrame:
    """The model's decision log, oldest first."""
    if not table_exists(PROMOTION_LOG_TABLE):
        return pd.DataFrame(columns=list(PROMOTION_LOG_TYPES))
    return read_frame("SELECT * FROM ml.promotion_log WHERE model = :m ORDER BY decided_at, version",
                      {"m": model})


def rollback(model: str, by: str) -> RegistryEntry:
    """Re-activate the previous champion of ``model``; the current one becomes ``retired``.

    "Previous" is the most recently promoted version other than the current
    champion. Returns the re-activated entry. Raises ``RollbackError`` when the
    model has no earlier champion. Holds the model's registry lock (module docstring).
    """
    with transaction(model) as conn:
        target = _rollback(model, by, conn)
    entry = champion(model)
    assert entry is not None and entry.version == target
    return entry


def _rollback(model: str, by: str, conn: sa.Connection) -> str:
    rows = _model_rows(model, conn)
    current = rows[rows["status"] == "champion"]
    earlier = rows[(rows["status"] == "retired") & rows["promoted_at"].notna()]
    if not current.empty:
        earlier = earlier[earlier["version"] != current.iloc[0]["version"]]
    if earlier.empty:
        raise RollbackError(f"{model}: no earlier champion in {REGISTRY_TABLE} to roll back to")
    target = earlier.sort_values(["promoted_at", "trained_at"]).iloc[-1]["version"]
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = rows.copy()
    rows.loc[rows["status"] == "champion", "status"] = "retired"
    mask = rows["version"] == target
    rows.loc[mask, "status"] = "champion"
    rows.loc[mask, "promoted_at"] = now
    rows.loc[mask, "promoted_by"] = f"rollback:{by}"
    _write_model_rows(model, rows, conn)
    log_decision(model=model, version=target, decision="rolled_back", decided_by=f"rollback:{by}",
                 reason=f"re-activated by {by}; replaced "
                        f"{current.iloc[0]['version'] if not current.empty else 'no champion'}",
                 main_metric=None, value=None,
                 champion_version=None if current.empty else current.iloc[0]["version"], champion_value=None,
                 decided_at=now, conn=conn)
    return str(target)


def _write_model_rows(model: str, rows: pd.DataFrame, conn: sa.Connection) -> None:
    """Replace ``model``'s registry rows with ``rows`` (typed; rows from before a column existed
    get NULL in it, never the text 'nan')."""
    frame = rows.reindex(columns=list(REGISTRY_TYPES)).reset_index(drop=True)
    for col, typ in REGISTRY_TYPES.items():
        if typ == "TIMESTAMP":
            frame[col] = pd.to_datetime(frame[col])
        elif typ == "TEXT":
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    frame["seed"] = frame["seed"].astype("int64")
    replace_partition(REGISTRY_TABLE, frame, {"model": model}, column_types=REGISTRY_TYPES, conn=conn)


def register(
    *,
    model: str,
    version: str,
    artefact_uri: str,
    config: dict[str, Any],
    window: DataWindow,
    seed: int,
    metrics: dict[str, float],
    baselines: dict[str, dict[str, float]],
    main_metric: str,
    higher_is_better: bool,
    champion_value: float | None,
    as_of_date: date,
    run_id: str,
    conn: sa.Connection | None = None,
    evaluated_champion: str | None | object = _UNCHECKED,
    data_fingerprint: str | None = None,
    code_fingerprint: str | None = None,
) -> str:
    """Record a trained version, apply the promotion rule, log evaluations, in one transaction.

    ``champion_value`` is the current champion's ``main_metric`` on the *same*
    holdout as ``metrics`` (None when there is no champion or it could not be
    evaluated). ``baselines`` are the scorers this version must not lose to (for a
    served baseline: the other candidates, the learned model included). Pass ``conn``
    (from ``transaction(model)``) to make this registration part of a larger transaction (the
    caller commits). ``evaluated_champion`` is the version ``champion_value`` was measured on
    (None: there was no champion); when given and no longer the champion, the new version is
    not promoted (module docstring). Returns the new version's status.
    """
    if conn is None:
        with transaction(model) as own:
            return register(model=model, version=version, artefact_uri=artefact_uri, config=config,
                            window=window, seed=seed, metrics=metrics, baselines=baselines,
                            main_metric=main_metric, higher_is_better=higher_is_better,
                            champion_value=champion_value, as_of_date=as_of_date, run_id=run_id, conn=own,
                            evaluated_champion=evaluated_champion, data_fingerprint=data_fingerprint,
                            code_fingerprint=code_fingerprint)
    lock_model(conn, model)  # before the read: the decision must see every committed registration
    rows = _model_rows(model, conn)
    now = datetime.now(UTC).replace(tzinfo=None)  # audit time of this write
    current = rows[rows["status"] == "champion"]
    rows = rows[rows["version"] != version].copy()
    margin = get_settings().promotion_margin
    value = finite_or_none(metrics.get(main_metric))
    champion_value = finite_or_none(champion_value)

    insane = sanity_failures(metrics, main_metric)
    best = best_baseline(baselines, main_metric, higher_is_better)
    champ_version = None if current.empty else current.iloc[0]["version"]
    if not current.empty and champ_version == version:
        # Re-running the champion's own training: it stays champion, history unchanged.
        status, promoted_at, promoted_by = "champion", _ts(current.iloc[0]["promoted_at"]), \
            current.iloc[0]["promoted_by"]
        decision, reason = "kept_champion", "re-registered the current champion's own version"
    elif insane:
        status, promoted_at, promoted_by = "challenger", None, None
        decision, reason = "rejected_sanity", "; ".join(insane)
    elif best is not None and value is not None and not should_promote(
            value, best[1], higher_is_better=higher_is_better, margin=0.0):
        status, promoted_at, promoted_by = "challenger", None, None
        decision = "rejected_baseline"
        reason = (f"loses to baseline {best[0]} on the holdout ({main_metric} {value:.4f} vs {best[1]:.4f}); "
                  f"never served (a servable baseline that wins is registered as its own version)")
    elif evaluated_champion is not _UNCHECKED and evaluated_champion != champ_version:
        status, promoted_at, promoted_by = "challenger", None, None
        decision = "kept_champion"
        reason = (f"champion changed to {champ_version} while this version was compared with "
                  f"{evaluated_champion or 'no champion'}; not compared on the same holdout, so not promoted "
                  "(the next training compares with the new champion)")
    elif current.empty or should_promote(value, champion_value,  # type: ignore[arg-type]
                                          higher_is_better=higher_is_better, margin=margin):
        status, promoted_at, promoted_by = "champion", now, f"auto:{run_id}"
        rows.loc[rows["status"] == "champion", "status"] = "retired"
        decision = "promoted"
        reason = ("no champion yet" if current.empty else
                  f"beats champion {champ_version} on the same holdout by margin {margin}")
        strategy = str(config.get("serving_strategy", LEARNED))
        reason += f"; serves {strategy}"
        if best is not None:
            reason += f"; at or above best baseline {best[0]} ({main_metric} {best[1]:.4f})"
    else:
        status, promoted_at, promoted_by = "challenger", None, None
        decision = "kept_champion"
        reason = (f"does not beat champion {champ_version} ({main_metric} {champion_value}) "
                  f"by margin {margin}")

    new_row = {
        "model": model, "version": version, "artefact_uri": artefact_uri, "config": _to_json(config),
        "data_start": window.start, "data_end": window.end, "seed": int(seed),
        "metrics": _to_json(metrics), "baseline_metrics": _to_json(baselines),
        "status": status, "trained_at": now, "promoted_at": promoted_at, "promoted_by": promoted_by,
        "data_fingerprint": data_fingerprint, "code_fingerprint": code_fingerprint,
    }
    frame = pd.concat([rows, pd.DataFrame([new_row])], ignore_index=True) if not rows.empty \
        else pd.DataFrame([new_row])
    _write_model_rows(model, frame, conn)

    log_decision(model=model, version=version, decision=decision, reason=reason, main_metric=main_metric,
                 value=value, champion_version=champ_version,
                 champion_value=champion_value, decided_by=f"auto:{run_id}", decided_at=now, conn=conn)
    write_evaluations(model=model, version=version, as_of_date=as_of_date, metrics=metrics,
                      baselines=baselines, main_metric=main_metric,
                      # the champion champion_value was measured on (not one that replaced it meanwhile)
                      champion_version=champ_version if evaluated_champion is _UNCHECKED else evaluated_champion,
                      champion_value=champion_value, conn=conn)
    log.info("%s %s registered as %s (%s=%s, champion on same holdout=%s)", model, version, status,
             main_metric, value, champion_value)
    return status


def write_evaluations(*, model: str, version: str, as_of_date: date, metrics: dict[str, float],
                      baselines: dict[str, dict[str, float]], main_metric: str,
                      champion_version: str | None, champion_value: float | None,
                      dataset: str = "holdout", conn: sa.Connection | None = None) -> None:
    """One ``ml.evaluations`` row per (metric, baseline) on the same holdout, plus the
    main metric vs the previous champion (baseline ``champion:<version>``).

    A model with no baseline still gets one row per metric (baseline NULL), so BI
    can chart every metric over time. A metric that could not be computed (NaN/inf) is NULL.
    Non-numeric metric values (lists, text) are not evaluations and are left out."""
    numeric = {m: v for m, v in sorted(metrics.items())
               if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}
    rows = [
        {"metric": m, "value": finite_or_none(v), "baseline": name,
         "baseline_value": finite_or_none((bm or {}).get(m))}
        for name, bm in sorted(baselines.items()) for m, v in numeric.items()
    ] or [{"metric": m, "value": finite_or_none(v), "baseline": None, "baseline_value": None}
          for m, v in numeric.items()]
    if champion_version is not None and champion_version != version:
        rows.append({"metric": main_metric, "value": finite_or_none(metrics.get(main_metric)),
                     "baseline": f"champion:{champion_version}",
                     "baseline_value": finite_or_none(champion_value)})
    frame = pd.DataFrame(rows)
    frame.insert(0, "model", model)
    frame.insert(1, "version", version)
    frame.insert(2, "as_of_date", as_of_date)
    frame.insert(3, "dataset", dataset)
    for col in ("value", "baseline_value"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    replace_partition(EVALUATIONS_TABLE, frame[list(EVALUATION_TYPES)],
                      {"model": model, "version": version, "as_of_date": as_of_date, "dataset": dataset},
                      column_types=EVALUATION_TYPES, conn=conn)
