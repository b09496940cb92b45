"""Each mart's contract is declared once, in tasks/contracts/marts_schema.py.

The dbt model yml of ``marts`` (enforced contract and column tests), the generated part of every
``expectations/marts_*.yml`` and docs/marts_schema.md are derived from it (``python -m
tasks.contracts.generate``). These tests fail when a derived file drifts, when the generator
would drop hand-written expectations, when a declared column does not reach dbt, GX and the
docs, and when the generated GX suite does not gate a real mart table by the declared rules.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tasks.contracts import dbt_marts_models, generate, gx_marts_suites, marts_schema_doc
from tasks.contracts.marts_schema import MARTS_TABLES, MartColumn, table
from tasks.ingest.schema import EVENT_TYPES, entity
from tasks.quality.suites import load_suite_spec
from tasks.score.schema import ServingColumn
from tasks.settings import REPO_ROOT

MARTS_FILES = {dbt_marts_models.PATH, marts_schema_doc.PATH, *(gx_marts_suites.path(name) for name in MARTS_TABLES)}
# The marts Python reads (tasks/applicability.py MART_INPUTS, the dbt project's marts folder).
MARTS = {"dim_users", "dim_products", "fct_events", "fct_order_lines", "fct_transactions",
         "fct_session_summaries", "fct_daily_item_sales"}
D = date(2026, 1, 3)


def _copy_tree(root: Path) -> None:
    for relative in generate.derived_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)


def _models(text: str) -> dict[str, dict]:
    return {m["name"]: m for m in yaml.safe_load(text)["models"]}


def test_every_mart_is_declared_and_its_derived_files_match() -> None:
    assert set(MARTS_TABLES) == MARTS == {p.stem for p in (REPO_ROOT / "dbt_project/models/marts").glob("*.sql")}
    assert MARTS_FILES <= set(generate.derived_files())
    drifted = {path: diff for path, diff in generate.drift().items() if path in MARTS_FILES}
    assert not drifted, "marts files drifted; run `python -m tasks.contracts.generate`:\n" + "\n".join(
        drifted.values())


def test_planted_drift_is_caught_and_rewriting_keeps_hand_written_checks(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert generate.drift(tmp_path) == {}
    models = tmp_path / dbt_marts_models.PATH
    text = models.read_text()
    typed = "      - name: n_orders\n        data_type: bigint\n        description: Distinct non-cancelled orders.\n"
    assert typed in text
    models.write_text(text.replace(typed, typed.replace("bigint", "double precision"), 1))
    suite = tmp_path / gx_marts_suites.path("fct_order_lines")
    suite_text = suite.read_text()
    assert "    kwargs: {column: ordered_at}\n" in suite_text
    hand_written = ("  - type: expect_column_values_to_be_between\n"
                    "    kwargs: {column: quantity, min_value: -1000, max_value: 1000}\n")
    suite.write_text(suite_text.replace("  - type: expect_column_values_to_not_be_null\n"
                                        "    kwargs: {column: ordered_at}\n", "") + hand_written)
    doc = tmp_path / marts_schema_doc.PATH
    doc.write_text(doc.read_text().replace("| `session_id` | string | no |", "| `session_id` | string | yes |"))

    drifted = generate.drift(tmp_path)
    assert set(drifted) == {dbt_marts_models.PATH, gx_marts_suites.path("fct_order_lines"), marts_schema_doc.PATH}
    assert "+        data_type: bigint" in drifted[dbt_marts_models.PATH]
    assert "+    kwargs: {column: ordered_at}" in drifted[gx_marts_suites.path("fct_order_lines")]

    generate.write(tmp_path)
    assert generate.drift(tmp_path) == {}
    assert suite.read_text().endswith(gx_marts_suites.MARKER + "\n" + hand_written)
    spec = load_suite_spec("marts_fct_order_lines", tmp_path / "expectations")
    assert {"column": "quantity", "min_value": -1000, "max_value": 1000} in [e.kwargs for e in spec.expectations]
    assert {"column": "ordered_at"} in [e.kwargs for e in spec.expectations]


def test_a_new_column_reaches_dbt_gx_and_the_docs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Publishing a mart column is one edit of marts_schema.py (plus the model's SQL)."""
    _copy_tree(tmp_path)
    events = MARTS_TABLES["fct_events"]
    channel = MartColumn("channel", "string", False, "Where the event came from.", allowed_values=("web", "app"))
    monkeypatch.setitem(MARTS_TABLES, "fct_events", dataclasses.replace(events, columns=(*events.columns, channel)))

    files = generate.derived_files(tmp_path)
    model = _models(files[dbt_marts_models.PATH])["fct_events"]
    assert model["columns"][-1] == {
        "name": "channel", "data_type": "text", "description": "Where the event came from.",
        "data_tests": ["not_null", {"accepted_values": {"arguments": {"values": ["web", "app"]}}}]}
    assert "| `channel` | string | no | one of `web`, `app` | Where the event came from. |" in files[
        marts_schema_doc.PATH]
    suite = yaml.safe_load(files[gx_marts_suites.path("fct_events")])
    kwargs = [e["kwargs"] for e in suite["expectations"]]
    assert kwargs[0]["column_set"][-1] == "channel"
    assert {"column": "channel"} in kwargs and {"column": "channel", "value_set": ["web", "app"]} in kwargs
    assert set(generate.drift(tmp_path)) == {dbt_marts_models.PATH, marts_schema_doc.PATH,
                                             gx_marts_suites.path("fct_events")}


def test_the_dbt_yml_states_every_declared_rule() -> None:
    models = _models((REPO_ROOT / dbt_marts_models.PATH).read_text())
    assert set(models) == set(MARTS_TABLES)
    for spec in MARTS_TABLES.values():
        model = models[spec.name]
        assert model["config"] == {"contract": {"enforced": True}}
        assert [c["name"] for c in model["columns"]] == spec.column_names
        model_tests = [t["unique_combination_of_columns"]["arguments"]["combination_of_columns"]
                       for t in model.get("data_tests", [])]
        assert model_tests == ([list(spec.key)] if len(spec.key) > 1 else [])
        for item in model["columns"]:
            column = spec.column(item["name"])
            assert item["data_type"] in ("text", "bigint", "double precision", "boolean", "timestamp", "date")
            assert item["data_type"] == spec.sql_types[column.name] and item["description"].strip()
            tests = item.get("data_tests", [])
            names = [t if isinstance(t, str) else next(iter(t)) for t in tests]
            where = f"{spec.name}.{column.name}"
            assert ("not_null" in names) == (not column.nullable), where
            assert ("unique" in names) == (spec.key == (column.name,)), where
            assert ("relationships" in names) == bool(column.references), where
            for test in tests:
                if isinstance(test, dict) and "accepted_values" in test:
                    assert tuple(test["accepted_values"]["arguments"]["values"]) == column.allowed_values, where
                if isinstance(test, dict) and "relationships" in test:
                    args = test["relationships"]["arguments"]
                    assert f"{args['to'][5:-2]}.{args['field']}" == column.references, where
                    assert (test["relationships"].get("config") == {"severity": "warn"}) == column.reference_warn_only


def test_the_event_types_line_stays_pinned_to_the_raw_contract() -> None:
    assert MARTS_TABLES["fct_events"].column("event_type").allowed_values == EVENT_TYPES
    text = (REPO_ROOT / dbt_marts_models.PATH).read_text()
    assert f"values: {json.dumps(list(EVENT_TYPES))}  # contract: events.event_type" in text


def test_the_generated_suites_check_every_declared_rule() -> None:
    for spec in MARTS_TABLES.values():
        suite = load_suite_spec(f"marts_{spec.name}")
        assert suite.table == spec.qualified and suite.allow_empty == spec.allow_empty
        assert suite.partition_columns == spec.partition_columns
        kwargs = [e.kwargs for e in suite.expectations]
        assert kwargs[0] == {"column_set": spec.column_names, "exact_match": False}
        unique = [e.kwargs for e in suite.expectations if "unique" in e.type]
        assert unique == [{"column": spec.key[0]} if len(spec.key) == 1 else {"column_list": list(spec.key)}]
        for column in spec.columns:
            assert ({"column": column.name} in kwargs) == (not column.nullable), f"{spec.name}.{column.name}"
            if column.allowed_values:
                assert {"column": column.name, "value_set": list(column.allowed_values)} in kwargs
            if column.type == "bool":
                assert {"column": column.name, "value_set": [True, False]} in kwargs
            if column.min_value is not None or column.max_value is not None:
                assert any(k.get("column") == column.name and k.get("min_value") == column.min_value
                           and k.get("max_value") == column.max_value
                           and bool(k.get("strict_min")) == column.strict_min for k in kwargs), column.name


def test_every_description_states_the_grain_and_every_key_and_reference_is_declared() -> None:
    for spec in MARTS_TABLES.values():
        assert spec.description.startswith("One row per "), spec.name
        assert len(set(spec.column_names)) == len(spec.column_names), spec.name
        if spec.partition:
            assert spec.column(spec.partition).type == "date", spec.name
        for column in spec.key:
            assert not spec.column(column).nullable, f"{spec.name}.{column}: a key column may not be null"
        for column in spec.columns:
            assert column.description, f"{spec.name}.{column.name} has no description"
            if column.references:
                mart, field = column.references.split(".")
                target = MARTS_TABLES[mart]
                assert target.key == (field,) and target.column(field).type == column.type, column.references
            if column.values_from:
                raw_entity, raw_column = column.values_from.split(".")
                assert column.allowed_values == entity(raw_entity).column(raw_column).allowed_values
    with pytest.raises(KeyError, match="marts.nope is not a declared mart"):
        table("marts.nope")


def test_the_declaration_rejects_incomplete_rules_but_allows_a_nullable_bigint() -> None:
    assert MartColumn("n_events", "int", True).sql_type == "BIGINT"  # dbt writes marts, not pandas
    with pytest.raises(ValueError, match="an int column must be declared not null"):
        ServingColumn("n", "int", True)
    with pytest.raises(ValueError, match="reference_warn_only without references"):
        MartColumn("user_id", "string", reference_warn_only=True)
    with pytest.raises(ValueError, match="strict_max without max_value"):
        MartColumn("p", "float", strict_max=True)
    with pytest.raises(ValueError, match="type 'integer' is not one of"):
        MartColumn("p", "integer")


def _order_lines(**overrides: object) -> pd.DataFrame:
    rows = {"order_id": ["o1", "o1"], "line_number": [1, 2], "user_id": ["u1", None], "product_id": ["p1", "p2"],
            "quantity": [2, -1], "unit_price": [3.5, 1.0], "line_amount": [7.0, -1.0],
            "is_cancellation": [False, True], "ordered_at": [datetime(2026, 1, 3, 9)] * 2, "order_date": [D, D],
            "currency": ["EUR", "EUR"], "country": ["FR", None]}
    return pd.DataFrame({**rows, **overrides})


def test_the_generated_suite_gates_a_real_mart_table(isolated_home: Path) -> None:
    """The generated suite runs in GX against a DuckDB table typed as the dbt contract says: a
    clean partition passes; a null in a not-null column, a repeated key or a negative price fail."""
    from tasks.quality.gx_runner import DataQualityError, run_suite
    from tasks.warehouse import replace_partition

    types = {name: sql.upper() for name, sql in MARTS_TABLES["fct_order_lines"].sql_types.items()}

    def gate(frame: pd.DataFrame) -> None:
        replace_partition("marts.fct_order_lines", frame, {"order_date": D}, column_types=types)
        run_suite("marts_fct_order_lines", {"order_date": D})

    gate(_order_lines())
    failures = {"ordered_at": _order_lines(ordered_at=[datetime(2026, 1, 3, 9), None]),
                "line_number": _order_lines(line_number=[1, 1]),
                "unit_price": _order_lines(unit_price=[3.5, -1.0])}
    for column, frame in failures.items():
        with pytest.raises(DataQualityError) as failed:
            gate(frame)
        assert column in str(failed.value), column
