"""Steps without input data are skipped with a reason; steps with data apply."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd

from tasks.applicability import skip_reason, suite_skip_reason
from tasks.ingest.load import ensure_raw_tables
from tasks.warehouse import replace_partition


def test_only_payments_loaded(isolated_home) -> None:
    ensure_raw_tables()
    txn = pd.DataFrame({"transaction_id": ["t1"], "user_id": ["u1"], "amount": [5.0],
                        "transaction_at": [datetime(2026, 1, 5, 10)], "dt": [date(2026, 1, 5)], "hr": [10],
                        "_source": ["cards"]})
    replace_partition("raw.transactions", txn, {"dt": date(2026, 1, 5)})
    as_of = datetime(2026, 1, 6)
    assert skip_reason("feature", "transaction_velocity", as_of) is None
    assert skip_reason("model", "risk", as_of) is None
    reason = skip_reason("feature", "user_profile", as_of)
    assert reason and "raw.events or raw.order_lines" in reason
    assert skip_reason("scorer", "recommendations", as_of)
    assert suite_skip_reason("features_session_features", as_of)
    assert suite_skip_reason("serving_risk_labels", as_of) is None
    assert suite_skip_reason("raw_events", as_of) is None  # raw suites always run
    # Data strictly before the as-of instant only: at an earlier as-of the payment does not count.
    assert skip_reason("model", "risk", datetime(2026, 1, 5, 10))


def test_serving_suite_skips_without_a_champion(isolated_home) -> None:
    ensure_raw_tables()
    ev = pd.DataFrame({"event_id": ["e1"], "session_id": ["s1"], "user_id": ["u1"], "event_type": ["view"],
                       "product_id": ["p1"], "event_at": [datetime(2026, 1, 5, 10)], "dt": [date(2026, 1, 5)],
                       "hr": [10], "_source": ["clicks"]})
    replace_partition("raw.events", ev, {"dt": date(2026, 1, 5)})
    as_of = datetime(2026, 1, 6)
    reason = suite_skip_reason("serving_recommendations", as_of)
    assert reason and "no champion recommender" in reason
    registry = pd.DataFrame({"model": ["recommender"], "version": ["v1"], "status": ["champion"]})
    replace_partition("ml.model_registry", registry, {"model": "recommender"})
    assert suite_skip_reason("serving_recommendations", as_of) is None


def test_mart_suites_follow_their_inputs(isolated_home) -> None:
    ensure_raw_tables()
    as_of = datetime(2026, 1, 6)
    assert suite_skip_reason("marts_fct_session_summaries", as_of)
    sessions = pd.DataFrame({"session_id": ["s1"], "started_at": [datetime(2026, 1, 1)], "dt": [date(2026, 1, 1)],
                             "hr": pd.array([None], dtype="Int64"), "_source": ["shoppers"]})
    replace_partition("raw.sessions", sessions, {"dt": date(2026, 1, 1)})
    assert suite_skip_reason("marts_fct_session_summaries", as_of) is None
    assert "raw.transactions" in suite_skip_reason("marts_fct_transactions", as_of)


def test_a_gate_asks_the_warehouse_once_per_raw_table(isolated_home, monkeypatch) -> None:
    """Inside ``remembered_lookups`` (what a GX gate runs its suites in) the seven mart suites'
    checks of the same raw tables open the warehouse once per (table, as-of); outside, every call
    looks again, so a table loaded in between is seen."""
    import tasks.applicability as applicability
    from tasks.applicability import remembered_lookups

    ensure_raw_tables()
    opened: list[int] = []
    real_connect = applicability.connect
    monkeypatch.setattr(applicability, "connect", lambda: opened.append(1) or real_connect())
    as_of = datetime(2026, 1, 6)
    marts = [f"marts_{m}" for m in ("dim_users", "dim_products", "fct_events", "fct_order_lines",
                                    "fct_transactions", "fct_session_summaries", "fct_daily_item_sales")]
    with remembered_lookups():
        reasons = [suite_skip_reason(s, as_of) for s in marts]
        raw_tables_asked = len(opened)
        assert [suite_skip_reason(s, as_of) for s in marts] == reasons
        assert len(opened) == raw_tables_asked  # the second pass asked nothing
    assert all(reasons)  # nothing loaded: every mart skips
    assert raw_tables_asked <= len(applicability.TIME_COLUMNS)
    ev = pd.DataFrame({"event_id": ["e1"], "session_id": ["s1"], "user_id": ["u1"], "event_type": ["view"],
                       "product_id": ["p1"], "event_at": [datetime(2026, 1, 5, 10)], "dt": [date(2026, 1, 5)],
                       "hr": [10], "_source": ["clicks"]})
    replace_partition("raw.events", ev, {"dt": date(2026, 1, 5)})
    assert suite_skip_reason("marts_fct_events", as_of) is None  # outside the block: looked again
