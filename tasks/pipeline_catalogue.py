"""What each DAG runs, read from the catalogues that already define it (no second list in dags/).

- feature sets and their cadences: ``tasks.features.catalogue.FEATURE_JOBS``;
- models: ``tasks.train.pipeline.TRAINERS``; scorers and cadences: ``tasks.score.pipeline.SCORERS``;
- hourly entities: ``tasks.ingest.schema.ENTITIES``;
- gates: the suite files in ``expectations/`` (``raw_*``, ``marts_*``, ``features_*``, ``serving_*``).

Adding a feature set, model, scorer or suite there adds its task to the DAGs. Everything here is
cheap at DAG-parse time (dict lookups and one directory listing; no pandas, GX or torch).
"""

from __future__ import annotations

from tasks.settings import REPO_ROOT

CADENCES = ("daily", "hourly")
EXPECTATIONS_DIR = REPO_ROOT / "expectations"


def _check(cadence: str) -> bool:
    if cadence not in CADENCES:
        raise ValueError(f"cadence must be one of {CADENCES}, got {cadence!r}")
    return cadence == "hourly"


def _suites(prefix: str) -> list[str]:
    return sorted(p.stem for p in EXPECTATIONS_DIR.glob(f"{prefix}*.yml"))


def feature_jobs(cadence: str) -> list[str]:
    """Feature sets computed on this cadence, in catalogue order."""
    from tasks.features.catalogue import FEATURE_JOBS

    hourly = _check(cadence)
    return [name for name, job in FEATURE_JOBS.items() if job.supports(hourly)]


def models() -> list[str]:
    from tasks.train.pipeline import TRAINERS

    return list(TRAINERS)


def scorers(cadence: str) -> list[str]:
    """Scorers (= serving tables) written on this cadence."""
    from tasks.score.pipeline import SCORERS

    _check(cadence)
    return [name for name, (_, _, scorer_cadence) in SCORERS.items() if scorer_cadence == cadence]


def scorer_after(scorer: str) -> tuple[str, ...]:
    """Scorers whose output of the same partition ``scorer`` reads (run before it)."""
    from tasks.score.pipeline import SCORER_AFTER

    return SCORER_AFTER.get(scorer, ())


def serving_tables(cadence: str) -> list[str]:
    """The ``serving.*`` tables this cadence's scorers write."""
    return [f"serving.{scorer}" for scorer in scorers(cadence)]


def scorer_model(scorer: str) -> str:
    """The model whose champion a scorer serves."""
    from tasks.score.pipeline import SCORER_MODEL

    return SCORER_MODEL[scorer]


def raw_suites(cadence: str) -> list[str]:
    """Gates on the landed partition: every entity with a suite (hourly: hourly entities) + the load log."""
    from tasks.ingest.schema import ENTITIES

    hourly = _check(cadence)
    suites = [s for s in _suites("raw_") if not hourly or ENTITIES[s.removeprefix("raw_")].hourly]
    return suites + _suites("audit_")


def mart_suites() -> list[str]:
    return _suites("marts_")


def feature_suites(cadence: str) -> list[str]:
    available = set(_suites("features_"))
    return [f"features_{job}" for job in feature_jobs(cadence) if f"features_{job}" in available]


def serving_suites(cadence: str) -> list[str]:
    available = set(_suites("serving_"))
    return [f"serving_{name}" for name in scorers(cadence) if f"serving_{name}" in available]
