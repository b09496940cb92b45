"""Which task failures are worth a retry.

Airflow retries every failed task (``retries`` in the DAG's default_args). That helps with
what can change between tries (a database lock, a lost worker, a network blip) and wastes
the retry delay on what cannot: a GX gate that failed on the data, a leakage check, a
mapping or schema error, rejected input, a value error in the data. Operators wrap their
``execute`` in ``fail_fast`` so such failures raise ``AirflowFailException`` (fail now, no
retry) with the original error chained and its message kept; anything else keeps its retries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Test node prefixes in dbt's failed_nodes: a failing data test fails again on the same data.
_DBT_TEST_PREFIXES = ("test.", "unit_test.")


def _deterministic_types() -> tuple[type[BaseException], ...]:
    """Imported lazily: the DAG parser imports this module without pandas/GX."""
    from tasks.ingest.errors import BadInputError
    from tasks.ingest.load import QuarantineThresholdExceeded
    from tasks.ingest.sources.mapping_config import MappingError
    from tasks.quality.gx_runner import DataQualityError
    from tasks.quality.pii_scan import PiiLeakError
    from tasks.quality.suites import SuiteSpecError
    from tasks.train.leakage import LeakageError

    # ValueError/TypeError/KeyError: bad data, bad config or a code bug; none changes on retry.
    return (DataQualityError, SuiteSpecError, LeakageError, BadInputError, MappingError,
            QuarantineThresholdExceeded, PiiLeakError, ValueError, TypeError, KeyError)


def is_deterministic(exc: BaseException) -> bool:
    """True when retrying the task on the same inputs cannot succeed."""
    from tasks.transform.dbt_runner import DbtError

    if isinstance(exc, DbtError):
        # A failed data test is deterministic; a model error may be a lock or lost connection.
        return bool(exc.failed_nodes) and all(n.startswith(_DBT_TEST_PREFIXES) for n in exc.failed_nodes)
    return isinstance(exc, _deterministic_types())


def fail_fast(execute: F) -> F:
    """Decorate an operator's ``execute``: deterministic failures skip the retries."""

    @functools.wraps(execute)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        try:
            return execute(*args, **kwargs)
        except AirflowException:
            raise  # skip/fail signals pass through untouched
        except Exception as exc:
            if is_deterministic(exc):
                raise AirflowFailException(
                    f"{type(exc).__name__}: {exc}\n(not retried: this failure cannot change on retry)"
                ) from exc
            raise

    return wrapper  # type: ignore[return-value]
