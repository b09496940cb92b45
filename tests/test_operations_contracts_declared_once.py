"""The operational tables (``audit.*``, ``ml.*``, ``monitoring.*``, ``features.user_segments``) are
declared once, in tasks/contracts/operations_schema.py.

The writers read their column lists and SQL types from it and docs/operations_schema.md is
derived from it (``python -m tasks.contracts.generate``). These tests create every operational
table through the code that really writes it (an ingest, a registration and a rollback, a
scored partition, task runs, reference profiles, drift, realised metrics, a retrain request, user
segments), on DuckDB and on PostgreSQL, and fail when the warehouse's tables, columns, column
order or types differ from the declaration, when a written row breaks a declared rule (a null in
a not-null column, a repeated key, a value outside its list or bounds), when the code names a
table of these schemas that is not declared, or when the generated doc drifts.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.contracts import generate, operations_schema_doc
from tasks.contracts.operations_schema import (
    COLUMN_KINDS,
    DECISIONS,
    LOAD_STATUSES,
    OPERATIONS_TABLES,
    SCHEMAS,
    OperationsColumn,
    OperationsTable,
    table,
)
from tasks.settings import REPO_ROOT

D = date(2026, 1, 3)
INGEST_DAY = date(2024, 3, 1)  # the day of tests/ingest/test_mapping_source.py's GOOD mapping
MODEL = "ops_contract_model"
# Declared SQL type -> what information_schema.columns.data_type says for it.
WAREHOUSE_TYPES = {
    "duckdb": {"TEXT": "VARCHAR", "BIGINT": "BIGINT", "INTEGER": "INTEGER", "DOUBLE PRECISION": "DOUBLE",
               "TIMESTAMP": "TIMESTAMP", "DATE": "DATE", "BOOLEAN": "BOOLEAN"},
    "postgres": {"TEXT": "text", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE PRECISION": "double precision",
                 "TIMESTAMP": "timestamp without time zone", "DATE": "date", "BOOLEAN": "boolean"},
}
# Strings of these schemas in tasks/ that are not tables: none today (plugins/ names Airflow
# assets such as "monitoring.retrain_request", which is why plugins/ is scanned for SQL only).
NOT_TABLES: set[str] = set()


def _ingest(tmp_path: Path) -> None:
    """audit.*: a real load of a mapping source whose one unparseable row is quarantined."""
    from tasks.ingest.load import ingest
    from tasks.partitions import Partition
    from tests.ingest.test_mapping_source import GOOD, _write_mapping

    ingest(Partition(INGEST_DAY), "run-1", source_spec=str(_write_mapping(tmp_path, GOOD)), entities=["events"])


def _train(tmp_path: Path) -> None:
    """ml.model_registry, ml.evaluations, ml.promotion_log: two registrations and a rollback."""
    from tasks.train.common import DataWindow
    from tasks.train.registry import register, rollback

    common = {"model": MODEL, "artefact_uri": str(tmp_path / "artefacts"), "config": {"lr": 0.1},
              "window": DataWindow(datetime(2025, 12, 1), datetime(2026, 1, 3)), "seed": 7,
              "main_metric": "wape", "higher_is_better": False, "as_of_date": D, "run_id": "run-1"}
    register(version=f"{MODEL}-v1", metrics={"wape": 0.5, "mase": float("nan")},
             baselines={"naive": {"wape": 0.9, "mase": 1.0}}, champion_value=None,
             data_fingerprint="data-1", code_fingerprint="code-1", **common)
    register(version=f"{MODEL}-v2", metrics={"wape": 0.3}, baselines={}, champion_value=0.5, **common)
    rollback(MODEL, by="test")


def _serve() -> None:
    """ml.serving_versions: a daily and an hourly scored partition."""
    from tasks.score.serving_versions import partition_of, record
    from tasks.warehouse import connect

    with connect() as conn:
        record("demand_forecasts", MODEL, partition_of(D + timedelta(days=1)), f"{MODEL}-v1", "run-1", conn)
        record("session_intent", "session_intent", partition_of(datetime(2026, 1, 3, 9)), "si-v1", "run-1", conn)


def _monitor() -> None:
    """monitoring.*: task runs, reference profiles, drift, realised metrics, a retrain request."""
    from tasks.monitoring.actions import record_retrain_requests
    from tasks.monitoring.drift import drift_rows
    from tasks.monitoring.pipeline_runs import record_task_run
    from tasks.monitoring.realised.common import Evaluation
    from tasks.monitoring.reference_profile import load_reference_profile, store_reference_profile
    from tasks.monitoring.tables import FEATURE_DRIFT, PREDICTION_DRIFT, REALISED_METRICS, write_partition
    from tasks.monitoring.thresholds import Breach
    from tasks.partitions import Partition

    record_task_run("ingest.load", Partition(D), 10, 9, 1, 1.5, run_id="run-1")
    record_task_run("score.session_intent", Partition(D, 9), None, None, None, 0.2)
    version = f"{MODEL}-v1"
    reference = pd.DataFrame({"x": [1.0, 2.0, None, 4.0, 8.0], "c": ["a", "b", "a", None, "b"]})
    current = pd.DataFrame({"x": [1.0, 5.0, 9.0], "c": ["a", "z", None]})
    for kind, drift_table in (("input", FEATURE_DRIFT), ("output", PREDICTION_DRIFT)):
        store_reference_profile(MODEL, version, reference, kind=kind, source_table="features.demo",
                                reference_as_of_date=D if kind == "input" else None)
        rows, _ = drift_rows(current, load_reference_profile(MODEL, version, kind))
        write_partition(drift_table, pd.DataFrame(rows).assign(dt=D, model=MODEL, model_version=version,
                                                               source_table="features.demo"),
                        {"dt": D, "model": MODEL})
    evaluation = Evaluation(MODEL)
    for metric, value, horizon in (("wape", 0.4, 1), ("mase", float("nan"), 1), ("coverage", 0.8, None)):
        evaluation.add(model_version=version, output_table="serving.demand_forecasts", output_as_of_date=D,
                       metric=metric, value=value, n_rows=12, truth_through=datetime(2026, 1, 4),
                       horizon_days=horizon)
    write_partition(REALISED_METRICS, pd.DataFrame(evaluation.rows).assign(dt=D), {"dt": D, "model": MODEL})
    record_retrain_requests(Partition(D), [Breach(MODEL, "feature_drift", "x psi", 0.5, 0.2, "x drifted", version)])


def _segment() -> None:
    """features.user_segments: K-means on a small features.user_profile partition."""
    from tasks.train.segments import FEATURES, PROFILE_TABLE, build_user_segments
    from tasks.warehouse import replace_partition

    rng = np.random.default_rng(0)
    profile = pd.DataFrame({"user_id": [f"u{i:03d}" for i in range(40)],
                            **{c: rng.uniform(0, 50, 40) for c in FEATURES}}).assign(as_of_date=D, as_of_hour=None)
    replace_partition(PROFILE_TABLE, profile, {"as_of_date": D, "as_of_hour": None},
                      column_types={"as_of_hour": "TIMESTAMP"})
    build_user_segments(D, "run-1")


def _warehouse_columns() -> dict[str, list[tuple[str, str, str]]]:
    """``{schema.table: [(column, data_type, is_nullable), ...]}`` of the declared schemas and
    features.user_segments, in column order."""
    from tasks.warehouse import connect

    with connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema IN ('audit', 'ml', 'monitoring') "
            "OR (table_schema = 'features' AND table_name = 'user_segments') "
            "ORDER BY table_schema, table_name, ordinal_position")).fetchall()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for schema, name, column, data_type, nullable in rows:
        out.setdefault(f"{schema}.{name}", []).append((column, data_type, nullable))
    return out


def _check_rows(spec: OperationsTable, frame: pd.DataFrame) -> list[str]:
    """What the written rows of ``spec`` break: nulls, repeated keys, values outside a list or bounds."""
    problems = []
    for column in spec.columns:
        values = frame[column.name]
        present = values.dropna()
        if not column.nullable and len(present) < len(values):
            problems.append(f"{spec.qualified}.{column.name}: null in a not-null column")
        if column.allowed_values and not set(present) <= set(column.allowed_values):
            problems.append(f"{spec.qualified}.{column.name}: {sorted(set(present) - set(column.allowed_values))}")
        numbers = pd.to_numeric(present, errors="coerce") if column.type in ("int", "float") else None
        if numbers is not None and column.min_value is not None and (numbers < column.min_value).any():
            problems.append(f"{spec.qualified}.{column.name}: below {column.min_value}")
        if numbers is not None and column.max_value is not None and (numbers > column.max_value).any():
            problems.append(f"{spec.qualified}.{column.name}: above {column.max_value}")
    if spec.key and frame.duplicated(subset=list(spec.key)).any():
        problems.append(f"{spec.qualified}: key {spec.key} repeated")
    return problems


def test_the_code_creates_exactly_the_declared_tables(any_warehouse: str, tmp_path: Path) -> None:
    """Every writer creates its table with the declared columns, order and types (none NOT NULL:
    the tables never had the constraint) and writes rows that keep the declared rules."""
    from tasks.warehouse import read_frame

    _ingest(tmp_path)
    _train(tmp_path)
    _serve()
    _monitor()
    _segment()

    found = _warehouse_columns()
    assert set(found) == set(OPERATIONS_TABLES), "created but not declared: " + str(
        sorted(set(found) - set(OPERATIONS_TABLES))) + "; declared but not created: " + str(
        sorted(set(OPERATIONS_TABLES) - set(found)))
    types = WAREHOUSE_TYPES[any_warehouse]
    problems = []
    for qualified, spec in OPERATIONS_TABLES.items():
        assert found[qualified] == [(c.name, types[c.sql_type], "YES") for c in spec.columns], qualified
        frame = read_frame(f"SELECT * FROM {qualified}")
        assert len(frame), f"{qualified}: the test wrote no rows, so its rules were not checked"
        problems += _check_rows(spec, frame)
    assert not problems, problems
    decisions = read_frame(f"SELECT decision FROM ml.promotion_log WHERE model = '{MODEL}'")["decision"]
    assert {"promoted", "rolled_back", "retrain_requested"} <= set(decisions)


def test_a_table_from_before_a_column_existed_gets_it_with_the_declared_type(isolated_home: Path,
                                                                              tmp_path: Path) -> None:
    """The additive migration (``replace_partition`` adds a frame's new columns) still types the
    columns from the declaration: a registry created before the fingerprints gets them as TEXT."""
    from tasks.warehouse import connect, quote_ident

    spec = table("ml.model_registry")
    old = [c for c in spec.columns if not c.name.endswith("_fingerprint")]
    with connect() as conn:
        conn.execute(sa.text("CREATE SCHEMA ml"))
        conn.execute(sa.text("CREATE TABLE ml.model_registry ("
                             + ", ".join(f"{quote_ident(c.name)} {c.sql_type}" for c in old) + ")"))
    _train(tmp_path)
    assert _warehouse_columns()["ml.model_registry"] == [(c.name, WAREHOUSE_TYPES["duckdb"][c.sql_type], "YES")
                                                         for c in spec.columns]


def _table_names_in_code() -> dict[str, set[str]]:
    """``{schema.table: files}`` for every audit/ml/monitoring table a string in tasks/ names
    (or SQL in plugins/ and dags/ reads)."""
    exact = re.compile(rf"^(?:{'|'.join(SCHEMAS)})\.[a-z_]+$")
    in_sql = re.compile(rf"\b(?:FROM|JOIN|INTO|TABLE)\s+((?:{'|'.join(SCHEMAS)})\.[a-z_]+)", re.IGNORECASE)
    names: dict[str, set[str]] = {}
    for folder in ("tasks", "plugins", "dags"):
        for file in (REPO_ROOT / folder).rglob("*.py"):
            if "data_docs_vendor" in file.parts:
                continue
            for node in ast.walk(ast.parse(file.read_text())):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                found = set(in_sql.findall(node.value))
                if folder == "tasks" and exact.match(node.value):
                    found.add(node.value)
                for name in found - NOT_TABLES:
                    names.setdefault(name, set()).add(str(file.relative_to(REPO_ROOT)))
    return names


def test_every_table_the_code_names_is_declared() -> None:
    named = _table_names_in_code()
    undeclared = {name: sorted(files) for name, files in named.items() if name not in OPERATIONS_TABLES}
    assert not undeclared, f"declare these in tasks/contracts/operations_schema.py: {undeclared}"
    assert {n for n in OPERATIONS_TABLES if n.split(".")[0] in SCHEMAS} <= set(named)


def test_the_writers_read_their_types_from_the_declaration() -> None:
    from tasks.ingest import load
    from tasks.monitoring import tables
    from tasks.score import serving_versions
    from tasks.train import registry, segments

    used = {"audit.quarantine": load.QUARANTINE_COLUMNS, "audit.load_log": load.LOAD_LOG_COLUMNS,
            "ml.model_registry": registry.REGISTRY_TYPES, "ml.evaluations": registry.EVALUATION_TYPES,
            "ml.promotion_log": registry.PROMOTION_LOG_TYPES, "ml.serving_versions": serving_versions.TYPES,
            "features.user_segments": segments.COLUMN_TYPES, **tables.SCHEMAS}
    assert set(used) == set(OPERATIONS_TABLES)
    for name, types in used.items():
        assert list(types.items()) == list(table(name).sql_types.items()), name


def test_value_lists_agree_with_the_code() -> None:
    from tasks.monitoring import actions

    assert set(COLUMN_KINDS) == set(re.findall(r'return "(numeric|categorical)"',
                                               (REPO_ROOT / "tasks/monitoring/reference_profile.py").read_text()))
    written = {actions.RETRAIN_REQUESTED}
    for path in ("tasks/train/registry.py", "tasks/train/retrain.py"):
        written |= set(re.findall(r'decision(?:, reason)?(?:=| = )"(\w+)"', (REPO_ROOT / path).read_text()))
    assert written == set(DECISIONS)
    statuses = set()
    for path in ("tasks/ingest/load.py", "tasks/ingest/load_days.py"):
        text = (REPO_ROOT / path).read_text()
        statuses |= set(re.findall(r'(?:"status": |status = |\.status = |else )"(\w+)"', text))
    assert statuses == set(LOAD_STATUSES)


def test_every_description_states_the_grain_and_keys_and_partitions_are_columns() -> None:
    for spec in OPERATIONS_TABLES.values():
        assert spec.description.startswith("One row per "), spec.qualified
        assert len(set(spec.column_names)) == len(spec.column_names), spec.qualified
        assert set(spec.key) <= set(spec.column_names) and set(spec.partition) <= set(spec.column_names)
        assert spec.key or spec.key_why, f"{spec.qualified}: no key and no reason why"
    with pytest.raises(KeyError, match="ml.nope is not a declared operational table"):
        table("ml.nope")
    assert OperationsColumn("hr", "int", True, sql="INTEGER").sql_type == "INTEGER"
    with pytest.raises(ValueError, match="does not fit type 'string'"):
        OperationsColumn("hr", "string", sql="INTEGER")


def _copy_tree(root: Path) -> None:
    for relative in generate.derived_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)


def test_the_generated_doc_matches_and_lists_every_column() -> None:
    assert operations_schema_doc.PATH in generate.derived_files()
    drifted = generate.drift().get(operations_schema_doc.PATH)
    assert not drifted, "run `python -m tasks.contracts.generate`:\n" + drifted
    doc = (REPO_ROOT / operations_schema_doc.PATH).read_text()
    for spec in OPERATIONS_TABLES.values():
        section = doc.split(f"## {spec.qualified}\n", 1)[1].split("\n## ", 1)[0]
        for c in spec.columns:
            assert f"| `{c.name}` | {c.type} ({c.sql_type}) | {'yes' if c.nullable else 'no'} |" in section
    for hand_written in ("docs/CONTRACTS.md", "docs/bad_input.md", "docs/monitoring.md"):
        assert operations_schema_doc.PATH in (REPO_ROOT / hand_written).read_text(), hand_written


def test_planted_drift_is_caught_and_a_new_column_reaches_the_doc(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert generate.drift(tmp_path) == {}
    doc = tmp_path / operations_schema_doc.PATH
    line = "| `rows_in` | int (BIGINT) | no |"
    assert line in doc.read_text()
    doc.write_text(doc.read_text().replace(line, "| `rows_in` | int (INTEGER) | yes |"))
    assert set(generate.drift(tmp_path)) == {operations_schema_doc.PATH}
    generate.write(tmp_path)
    assert generate.drift(tmp_path) == {}

    runs = OPERATIONS_TABLES["monitoring.pipeline_runs"]
    attempt = OperationsColumn("attempt", "int", True, "Airflow try number.", min_value=1)
    monkeypatch.setitem(OPERATIONS_TABLES, runs.qualified, dataclasses.replace(runs, columns=(*runs.columns, attempt)))
    assert "| `attempt` | int (BIGINT) | yes | >= 1 | Airflow try number. |" in generate.derived_files(tmp_path)[
        operations_schema_doc.PATH]
    assert set(generate.drift(tmp_path)) == {operations_schema_doc.PATH}
