"""GX suites: every YAML maps to real GX classes, and real checkpoints pass good data and
fail planted bad data with a message an on-call engineer can act on."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest.load import ensure_raw_tables, raw_rows, raw_table_columns
from tasks.ingest.schema import ENTITIES
from tasks.ingest.validate import validate_partition
from tasks.partitions import Partition
from tasks.pipeline_catalogue import raw_suites
from tasks.quality import (
    DataQualityError,
    list_suites,
    load_suite_spec,
    partition_values,
    run_suite,
    run_suites_for_partition,
)
from tasks.quality.gx_runner import build_expectation
from tasks.warehouse import replace_partition
from tests.fixtures.postgres_warehouse import postgres_warehouse

D = date(2026, 1, 2)
PART = {"dt": D, "hr": 10}
COLUMN_KWARGS = ("column", "column_A", "column_B")


def _events(**changes: list) -> pd.DataFrame:
    frame = pd.DataFrame({
        "event_id": ["e1", "e2", "e3", "e4"],
        "session_id": ["s1", "s1", "s1", "s2"],
        "user_id": ["u1", "u1", "u1", None],
        "event_type": ["view", "cart", "purchase", "search"],
        "product_id": ["p1", "p1", "p1", None],
        "query": [None, None, None, "lamp"],
        "price": [10.0, 10.0, 10.0, None],
        "device": ["mobile"] * 4,
        "event_at": pd.to_datetime(["2026-01-02 10:01", "2026-01-02 10:02", "2026-01-02 10:03",
                                    "2026-01-02 10:59"]),
        "dt": [D] * 4,
        "hr": [10] * 4,
        "_source": ["test"] * 4,
    })
    for column, values in changes.items():
        frame[column] = values
    return frame


def _load_log(rows_in: list[int], accepted: list[int], quarantined: list[int]) -> pd.DataFrame:
    n = len(rows_in)
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)], "source": ["synthetic"] * n,
        "entity": ["events", "order_lines", "transactions"][:n], "dt": [D] * n, "hr": [10] * n,
        "rows_in": rows_in, "rows_accepted": accepted, "rows_quarantined": quarantined,
        "status": ["ok"] * n, "loaded_at": [datetime(2026, 1, 2, 11, 5)] * n,
    })


# ---- the suite files ---------------------------------------------------------------

def test_suites_cover_every_protected_table() -> None:
    tables = {load_suite_spec(name).table for name in list_suites()}
    expected = {
        *(f"raw.{e}" for e in ENTITIES),
        *(f"marts.{m}" for m in ("dim_users", "dim_products", "fct_events", "fct_order_lines",
                                 "fct_transactions", "fct_daily_item_sales")),
        *(f"features.{f}" for f in ("user_profile", "item_features", "session_features",
                                    "transaction_velocity", "daily_item_sales")),
        *(f"serving.{s}" for s in ("recommendations", "session_intent", "demand_forecasts", "risk_labels")),
        "audit.load_log",
    }
    assert expected <= tables, expected - tables


@pytest.mark.parametrize("suite_name", list_suites())
def test_suite_file_maps_to_gx_expectations(suite_name: str) -> None:
    """Each YAML names real GX 1.x classes with valid kwargs, and only columns the table has."""
    import great_expectations as gx

    spec = load_suite_spec(suite_name)
    built = [build_expectation(e) for e in spec.expectations]
    assert all(isinstance(e, gx.expectations.Expectation) for e in built)
    assert spec.table.split(".")[0] in ("raw", "marts", "features", "serving", "audit")
    column_sets = [e.kwargs["column_set"] for e in spec.expectations
                   if e.type == "expect_table_columns_to_match_set"]
    if column_sets:
        known = set(column_sets[0]) | set(spec.computed_columns) | set(spec.partition_columns)
        named = {e.kwargs[k] for e in spec.expectations for k in COLUMN_KWARGS if k in e.kwargs}
        named |= {c for e in spec.expectations for c in e.kwargs.get("column_list", [])}
        assert named <= known, f"{suite_name}: columns not in its column_set: {named - known}"


@pytest.mark.parametrize("suite_name", [s for s in list_suites() if s.startswith("raw_")])
def test_raw_suite_follows_the_canonical_schema(suite_name: str) -> None:
    """A raw suite checks only columns its entity has, not-null on the key and time column and
    uniqueness on the key (what the loader guarantees), and only hourly entities keep an hour."""
    spec = load_suite_spec(suite_name)
    entity = ENTITIES[suite_name.removeprefix("raw_")]
    assert spec.table == f"raw.{entity.name}"
    column_set = next(e.kwargs["column_set"] for e in spec.expectations
                      if e.type == "expect_table_columns_to_match_set")
    assert set(column_set) <= {*entity.column_names, "dt", "hr", "_source"}, suite_name
    assert {*entity.key, entity.time_column} <= set(column_set)
    not_null = {e.kwargs["column"] for e in spec.expectations if e.type == "expect_column_values_to_not_be_null"}
    assert {*entity.key, entity.time_column} <= not_null, f"{suite_name}: key/time columns unchecked"
    unique = [[e.kwargs["column"]] if "column" in e.kwargs else e.kwargs["column_list"] for e in spec.expectations
              if e.type in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")]
    assert list(entity.key) in unique, f"{suite_name}: key {entity.key} not checked unique"
    assert spec.allow_empty, f"{suite_name}: sources without {entity.name} must pass the raw gate"
    hr_null = any(e.type == "expect_column_values_to_be_null" and e.kwargs["column"] == "hr"
                  for e in spec.expectations)
    assert not (entity.hourly and hr_null)


def test_every_raw_entity_has_a_suite_and_only_hourly_ones_gate_hourly_runs() -> None:
    assert raw_suites("daily") == [*sorted(f"raw_{e}" for e in ENTITIES), "audit_load_log"]
    assert raw_suites("hourly") == [*sorted(f"raw_{e}" for e, ent in ENTITIES.items() if ent.hourly),
                                    "audit_load_log"]


def test_unknown_expectation_type_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "bogus.yml").write_text(
        "suite: bogus\ntable: raw.events\npartition: null\n"
        "expectations:\n  - type: expect_column_values_to_be_purple\n    kwargs: {column: x}\n")
    spec = load_suite_spec("bogus", tmp_path)
    with pytest.raises(ValueError, match="expect_column_values_to_be_purple"):
        build_expectation(spec.expectations[0])


# ---- real checkpoints ----------------------------------------------------------------

def test_raw_events_passes_on_good_data_and_writes_data_docs(isolated_home: Path) -> None:
    replace_partition("raw.events", _events(), PART)
    result = run_suite("raw_events", PART)
    assert result.success
    assert result.n_rows == 4
    assert result.evaluated == len(load_suite_spec("raw_events").expectations) == 9
    assert result.data_docs_path is not None
    assert result.data_docs_path.is_file()
    assert result.data_docs_path.name == "index.html"
    assert isolated_home / "gx" in result.data_docs_path.parents
    # Idempotent: a second run in the same context rebuilds, not duplicates, GX objects.
    assert run_suite("raw_events", PART).success
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(isolated_home / "gx"))
    assert [v.name for v in context.validation_definitions.all()] == ["raw_events__validation"]


def test_raw_events_fails_on_planted_bad_rows(isolated_home: Path) -> None:
    bad = _events(event_id=[None, "e2", "e3", "e4"], event_type=["view", "click", "purchase", "search"])
    replace_partition("raw.events", bad, PART)
    with pytest.raises(DataQualityError) as excinfo:
        run_suite("raw_events", PART)
    message = str(excinfo.value)
    assert "raw_events" in message
    assert "raw.events" in message
    assert "expect_column_values_to_not_be_null on event_id" in message
    assert "expect_column_values_to_be_in_set on event_type" in message
    assert "'click'" in message
    assert "Data Docs:" in message
    assert "index.html" in message
    result = excinfo.value.result
    assert not result.success
    assert {f.column for f in result.failures} == {"event_id", "event_type"}


def test_partition_filter_only_sees_its_partition(isolated_home: Path) -> None:
    """Bad rows in another hour must not fail this hour (values go as bound parameters)."""
    replace_partition("raw.events", _events(), PART)
    other = _events(event_type=["click"] * 4, hr=[11] * 4)
    replace_partition("raw.events", other, {"dt": D, "hr": 11})
    assert run_suite("raw_events", PART).n_rows == 4
    with pytest.raises(DataQualityError):
        run_suite("raw_events", {"dt": D})  # the whole day includes hour 11


def test_raw_products_negative_price_fails(isolated_home: Path) -> None:
    products = pd.DataFrame({
        "product_id": ["p1", "p2"], "title": ["Mug", "Lamp"], "description": [None, None],
        "category": ["kitchen", "home"], "brand": [None, None], "price": [9.5, -1.0],
        "currency": ["GBP", "GBP"], "created_at": pd.to_datetime(["2026-01-02 08:00"] * 2),
        "dt": [D, D], "hr": pd.array([None, None], dtype="Int64"), "_source": ["test"] * 2,
    })
    replace_partition("raw.products", products, {"dt": D, "hr": None})
    with pytest.raises(DataQualityError, match=r"expect_column_values_to_be_between on price: 1 unexpected"):
        run_suite("raw_products", {"dt": D, "hr": None})


# Edge values the loader accepts for the daily-only entities (as a source delivers them, text
# included): the raw gate must pass whatever the loader let through.
LOADER_ACCEPTS: dict[str, dict[str, list]] = {
    "daily_sales": {  # returns above sales: negative units and revenue; no price known
        "product_id": ["p1", "p1", "p2"], "store_id": ["s1", "s2", "all"], "units": [-3.0, 0.0, "4"],
        "revenue": [-29.7, 0.0, None], "price": [9.9, None, "2.5"], "is_promo": ["yes", None, False],
        "sales_date": ["2026-01-02"] * 3},
    "prices": {"product_id": ["p1", "p2"], "price": [0.01, "12"], "is_promo": [True, None],
               "valid_from": ["2026-01-02 00:00:00", "2026-01-02 23:59:59"]},
    "inventory": {"product_id": ["p1", "p1"], "stock_quantity": [0, "7"],
                  "snapshot_at": ["2026-01-02 00:00:00", "2026-01-02 12:00:00"]},
    "sessions": {"session_id": ["s1", "s2"], "user_id": [None, "u1"],
                 "started_at": ["2026-01-02 00:00:00", "2026-01-02 08:30:00"], "n_events": [1, None],
                 "bounce_rate": [0.2, None], "has_purchase": ["TRUE", None]},
    "calendar": {"calendar_date": ["2026-01-02", "2026-01-02"], "event_name": ["payday", "Epiphany"],
                 "event_type": [None, "religious"], "region": [None, "DE"]},
}


@pytest.mark.parametrize("entity_name", sorted(LOADER_ACCEPTS))
def test_raw_gate_passes_what_the_loader_accepts(isolated_home: Path, entity_name: str) -> None:
    ent = ENTITIES[entity_name]
    validated = validate_partition(ent, pd.DataFrame(LOADER_ACCEPTS[entity_name]), datetime(2026, 1, 2),
                                   datetime(2026, 1, 3))
    assert validated.rejected.empty, validated.rejected["_reason"].tolist()
    replace_partition(f"raw.{entity_name}", raw_rows(ent, validated.accepted, "test", D), {"dt": D},
                      column_types=raw_table_columns(ent))
    result = run_suite(f"raw_{entity_name}", partition_values(f"raw_{entity_name}", Partition(D), "ingest"))
    assert result.success and result.n_rows == len(validated.accepted) and not result.failures


def test_raw_daily_sales_fails_on_planted_violations(isolated_home: Path) -> None:
    """A duplicate (product, store, day), a non-positive price and an hour on a daily row fail;
    negative units (returns) alone do not."""
    ent = ENTITIES["daily_sales"]
    good = validate_partition(ent, pd.DataFrame(LOADER_ACCEPTS["daily_sales"]), datetime(2026, 1, 2),
                              datetime(2026, 1, 3)).accepted
    bad = raw_rows(ent, pd.concat([good, good.iloc[[0]]], ignore_index=True), "test", D)
    bad.loc[1, "price"] = 0.0
    bad.loc[2, "hr"] = 5
    replace_partition("raw.daily_sales", bad, {"dt": D}, column_types=raw_table_columns(ent))
    with pytest.raises(DataQualityError) as excinfo:
        run_suite("raw_daily_sales", {"dt": D})
    assert {f.column for f in excinfo.value.result.failures} == {"product_id,store_id,sales_date", "price", "hr"}
    assert "expect_compound_columns_to_be_unique on product_id,store_id,sales_date" in str(excinfo.value)


def test_raw_gate_passes_a_source_without_the_daily_entities(isolated_home: Path) -> None:
    """A clickstream has no calendar, prices, inventory, daily sales or sessions: the daily raw gate
    runs every raw suite, those find an empty partition and pass as empty (logged, never failed)."""
    ensure_raw_tables()  # what ingest guarantees before the gate: every raw table exists
    replace_partition("raw.events", _events(), PART)
    replace_partition("audit.load_log", _load_log([4], [4], [0]), PART)
    summaries = {s["suite"]: s for s in run_suites_for_partition(raw_suites("daily"), Partition(D), "ingest",
                                                                   dag_id="ecomflow_daily")}
    assert set(summaries) == set(raw_suites("daily"))
    assert all(s["success"] for s in summaries.values())
    empty = {name for name, s in summaries.items() if s["empty"]}
    assert empty == {f"raw_{e}" for e in ENTITIES if e != "events"}
    assert summaries["raw_events"]["n_rows"] == 4


def test_load_log_reconciliation(isolated_home: Path) -> None:
    """rows_in = rows_accepted + rows_quarantined holds, and a lost row is caught."""
    replace_partition("audit.load_log", _load_log([10, 5], [9, 5], [1, 0]), PART)
    assert run_suite("audit_load_log", PART).success
    replace_partition("audit.load_log", _load_log([10, 5], [9, 4], [1, 0]), PART)
    with pytest.raises(DataQualityError) as excinfo:
        run_suite("audit_load_log", PART)
    assert "expect_column_pair_values_to_be_equal on rows_in/rows_accounted" in str(excinfo.value)


def test_empty_partition_policy(isolated_home: Path) -> None:
    replace_partition("audit.load_log", _load_log([1], [1], [0]), PART)
    with pytest.raises(DataQualityError, match=r"no rows for dt=2026-01-03, hr=10.*allow_empty: false"):
        run_suite("audit_load_log", {"dt": date(2026, 1, 3), "hr": 10})
    replace_partition("raw.events", _events(), PART)
    result = run_suite("raw_events", {"dt": date(2026, 1, 3), "hr": 10})  # allow_empty: true
    assert result.success
    assert result.empty
    assert result.n_rows == 0


def test_missing_table_and_bad_partition_keys(isolated_home: Path) -> None:
    with pytest.raises(DataQualityError, match="serving.risk_labels does not exist"):
        run_suite("serving_risk_labels", {"as_of_date": D, "as_of_hour": None})
    with pytest.raises(ValueError, match="partitioned by"):
        run_suite("raw_events", {"as_of_date": D})


def test_serving_risk_labels_hourly_partition(isolated_home: Path) -> None:
    hour = pd.Timestamp("2026-01-02 10:00")
    labels = pd.DataFrame({
        "transaction_id": ["t1", "t2"], "user_id": ["u1", "u2"], "risk_score": [0.1, 0.95],
        "label": ["pass", "block"], "action": ["none", "freeze_account"], "reasons": ["", "velocity"],
        "as_of_date": [D, D], "as_of_hour": [hour, hour], "model_version": ["v1", "v1"],
        "run_id": ["r1", "r1"], "scored_at": [datetime(2026, 1, 2, 11, 1)] * 2,
    })
    replace_partition("serving.risk_labels", labels, {"as_of_date": D, "as_of_hour": hour})
    assert run_suite("serving_risk_labels", {"as_of_date": D, "as_of_hour": hour}).success
    labels.loc[1, "label"] = "maybe"
    labels.loc[0, "risk_score"] = 1.7
    replace_partition("serving.risk_labels", labels, {"as_of_date": D, "as_of_hour": hour})
    with pytest.raises(DataQualityError) as excinfo:
        run_suite("serving_risk_labels", {"as_of_date": D, "as_of_hour": hour})
    failed = {f.column for f in excinfo.value.result.failures}
    assert failed == {"label", "risk_score"}


@pytest.mark.postgres
def test_run_suite_on_postgres(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same reader and checkpoint against PostgreSQL (typed columns come back as Python objects)."""
    with postgres_warehouse(monkeypatch, "ecomflow_gx_test"):
        replace_partition("raw.events", _events(), PART)
        assert run_suite("raw_events", PART).success
        replace_partition("raw.events", _events(price=[1.0, -2.0, 3.0, None]), PART)
        with pytest.raises(DataQualityError, match="on price"):
            run_suite("raw_events", PART)


# ---- Airflow partition -> suite partition ---------------------------------------------

def test_partition_values_follow_the_contract() -> None:
    daily, hourly = Partition(D), Partition(D, 5)
    assert partition_values("raw_events", hourly, "ingest") == {"dt": D, "hr": 5}
    assert partition_values("raw_events", daily, "ingest") == {"dt": D}  # all hours of the day
    assert partition_values("features_user_profile", daily, "as_of") == {
        "as_of_date": date(2026, 1, 3), "as_of_hour": None}
    assert partition_values("serving_risk_labels", hourly, "as_of") == {
        "as_of_date": D, "as_of_hour": datetime(2026, 1, 2, 5)}
    assert partition_values("serving_recommendations", daily, "as_of") == {"as_of_date": date(2026, 1, 3)}
    assert partition_values("marts_fct_events", daily, "table") is None
    with pytest.raises(ValueError, match="scope"):
        partition_values("raw_events", daily, "weekly")


def test_run_suites_for_partition_reports_every_failure(isolated_home: Path) -> None:
    replace_partition("raw.events", _events(event_type=["view", "cart", "click", "search"]), PART)
    replace_partition("audit.load_log", _load_log([3], [2], [0]), PART)
    with pytest.raises(DataQualityError) as excinfo:
        run_suites_for_partition(["raw_events", "audit_load_log"], Partition(D, 10), "ingest")
    message = str(excinfo.value)
    assert "2 of 2 suites failed for 2026-01-02T10 (raw_events, audit_load_log)" in message
    assert "'click'" in message
    assert "rows_in/rows_accounted" in message
    replace_partition("raw.events", _events(), PART)
    summaries = run_suites_for_partition(["raw_events"], Partition(D, 10), "ingest")
    assert summaries[0]["success"] is True
    assert summaries[0]["partition"] == {"dt": "2026-01-02", "hr": "10"}
