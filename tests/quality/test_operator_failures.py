"""Deterministic failures fail the task at once; transient ones keep their retries.

The operators are run through their real ``execute`` (no Airflow scheduler): a GX gate that
fails on the data raises ``AirflowFailException`` (Airflow does not retry it), with the
original ``DataQualityError`` chained and its message kept.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from ecomflow_airflow.failures import fail_fast, is_deterministic
from ecomflow_airflow.operators import GXCheckpointOperator, TrainModelOperator

from tasks.quality.gx_runner import DataQualityError
from tasks.train.leakage import LeakageError
from tasks.transform.dbt_runner import DbtError
from tasks.warehouse import replace_partition

CONTEXT = {"data_interval_start": datetime(2026, 1, 2), "data_interval_end": datetime(2026, 1, 3),
           "logical_date": datetime(2026, 1, 2), "run_id": "test-run", "params": {}}


def test_failed_gx_gate_is_not_retried(isolated_home) -> None:
    # audit_load_log rows that break its suite: rows in != accepted + quarantined.
    replace_partition("audit.load_log", pd.DataFrame([{
        "dt": datetime(2026, 1, 2).date(), "hr": None, "entity": "events", "rows_in": 10, "rows_accepted": 3,
        "rows_quarantined": 1, "run_id": "r", "source": "test", "status": "loaded"}]),
        {"dt": datetime(2026, 1, 2).date()})
    op = GXCheckpointOperator(task_id="gx_raw", suites=["audit_load_log"], scope="ingest", cadence="daily")
    with pytest.raises(AirflowFailException, match="not retried") as excinfo:
        op.execute(CONTEXT)
    assert isinstance(excinfo.value.__cause__, DataQualityError)
    assert "audit_load_log" in str(excinfo.value)


def test_skip_signals_pass_through_untouched(isolated_home) -> None:
    """A model whose inputs were never loaded is skipped (with its reason), not failed."""
    op = TrainModelOperator(task_id="train_risk", model="risk")
    with pytest.raises(AirflowSkipException, match="raw.transactions"):
        op.execute(CONTEXT)


def test_transient_errors_keep_their_retries() -> None:
    @fail_fast
    def flaky() -> None:
        raise ConnectionError("server closed the connection unexpectedly")

    with pytest.raises(ConnectionError):
        flaky()
    assert not is_deterministic(RuntimeError("could not set lock on file"))
    assert not is_deterministic(DbtError("dbt failed", ["model.ecomflow.fct_events"], 1))


def test_deterministic_errors_are_classified() -> None:
    assert is_deterministic(LeakageError("feature_cutoff_at >= label_at"))
    assert is_deterministic(ValueError("Out of range float values are not JSON compliant"))
    assert is_deterministic(DbtError("tests failed", ["test.ecomflow.unique_fct_events_event_id.1a2b"], 1))
