"""Each Spark feature table's contract is declared once, in tasks/contracts/features_schema.py.

The generated part of every ``expectations/features_*.yml`` and docs/feature_schema.md are derived
from it (``python -m tasks.contracts.generate``), its descriptions of the derived columns are the
job catalogue's ``definitions``, and ``publish_feature_set`` refuses a Spark run whose columns
differ from it. These tests fail when a derived file drifts, when the generator would drop
hand-written expectations, when a declared column does not reach GX and the docs, and when what a
real Spark job writes stops matching its declaration.
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil
from datetime import date, datetime
from pathlib import Path

import pytest
import yaml

from tasks.contracts import feature_schema_doc, generate, gx_features_suites
from tasks.contracts.features_schema import (
    FEATURE_TABLES,
    RUN_COLUMNS,
    FeatureColumn,
    FeatureOutputMismatch,
    _documented,
    check_output,
    table,
)
from tasks.features.catalogue import FEATURE_JOBS, RunPoint
from tasks.quality.suites import load_suite_spec
from tasks.settings import REPO_ROOT

FEATURE_FILES = {feature_schema_doc.PATH, *(gx_features_suites.path(name) for name in FEATURE_TABLES)}
# Checks the declaration cannot express, kept below the marker of their suite.
HAND_WRITTEN = {
    "user_profile": [("expect_column_values_to_be_json_parseable", {"column": "category_affinity"})],
    "item_features": [("expect_column_pair_values_a_to_be_greater_than_b",
                       {"column_A": "price_max_30d", "column_B": "price_min_30d", "or_equal": True,
                        "ignore_row_if": "either_value_is_missing"})],
    "session_features": [],
    "transaction_velocity": [("expect_column_pair_values_a_to_be_greater_than_b",
                              {"column_A": "n_txn_24h", "column_B": "n_txn_1h", "or_equal": True})],
    "daily_item_sales": [("expect_column_pair_values_a_to_be_greater_than_b",
                          {"column_A": "as_of_date", "column_B": "sales_date"})],
}


def _copy_tree(root: Path) -> None:
    for relative in generate.derived_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)


def test_every_feature_set_is_declared_and_its_derived_files_match() -> None:
    assert set(FEATURE_TABLES) == set(FEATURE_JOBS) == {p.name.removeprefix("features_").removesuffix(".yml")
                                                        for p in (REPO_ROOT / "expectations").glob("features_*.yml")}
    assert FEATURE_FILES <= set(generate.derived_files())
    drifted = {path: diff for path, diff in generate.drift().items() if path in FEATURE_FILES}
    assert not drifted, "feature files drifted; run `python -m tasks.contracts.generate`:\n" + "\n".join(
        drifted.values())


@pytest.mark.parametrize("name", sorted(FEATURE_TABLES))
def test_declared_columns_are_the_jobs_output_columns_and_keys(name: str) -> None:
    spec = FEATURE_TABLES[name]
    outputs = importlib.import_module(spec.job.transform_ref.split(":")[0]).OUTPUT_COLUMNS
    assert [c.name for c in spec.columns] == list(outputs)
    assert spec.column_names == [*outputs, "as_of_date", "as_of_hour"]
    assert spec.key == FEATURE_JOBS[name].key and set(spec.key) <= set(outputs)


def test_the_catalogue_definitions_are_the_column_descriptions() -> None:
    for name, spec in FEATURE_TABLES.items():
        definitions = FEATURE_JOBS[name].definitions
        for column, text in definitions.items():
            assert spec.column(column).description == text, f"{name}.{column}"
        for column in spec.all_columns:
            assert column.description, f"{name}.{column.name} has no description"
    with pytest.raises(ValueError, match="described in FeatureJob.definitions"):
        _documented("item_features", [FeatureColumn("conversion_rate_30d", "float", True, "a second text")])
    assert "distinct buyers / distinct visitors" in (REPO_ROOT / feature_schema_doc.PATH).read_text()


def test_planted_drift_is_caught_and_rewriting_keeps_hand_written_checks(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert generate.drift(tmp_path) == {}
    suite = tmp_path / gx_features_suites.path("item_features")
    text = suite.read_text()
    bound = ("  - type: expect_column_values_to_be_between\n"
             "    kwargs: {column: conversion_rate_30d, min_value: 0, max_value: 1}\n")
    assert bound in text
    hand_written = ("  - type: expect_column_values_to_be_between\n"
                    "    kwargs: {column: price_mean_30d, min_value: 0}\n")
    suite.write_text(text.replace(bound, bound.replace("max_value: 1", "max_value: 2")) + hand_written)
    doc = tmp_path / feature_schema_doc.PATH
    doc.write_text(doc.read_text().replace("| `units` | float | no |", "| `units` | float | yes |"))

    drifted = generate.drift(tmp_path)
    assert set(drifted) == {gx_features_suites.path("item_features"), feature_schema_doc.PATH}
    assert "+    kwargs: {column: conversion_rate_30d, min_value: 0, max_value: 1}" in drifted[
        gx_features_suites.path("item_features")]

    generate.write(tmp_path)
    assert generate.drift(tmp_path) == {}
    assert suite.read_text().endswith(hand_written)
    spec = load_suite_spec("features_item_features", tmp_path / "expectations")
    kwargs = [e.kwargs for e in spec.expectations]
    assert {"column": "price_mean_30d", "min_value": 0} in kwargs
    assert {"column": "conversion_rate_30d", "min_value": 0, "max_value": 1} in kwargs
    assert HAND_WRITTEN["item_features"][0][1] in kwargs  # the pair check below the marker survived


def test_a_new_column_reaches_gx_the_docs_and_the_publish_check(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """Adding a feature column is one edit of features_schema.py (plus the job's Spark code)."""
    _copy_tree(tmp_path)
    sessions = FEATURE_TABLES["session_features"]
    dwell = FeatureColumn("median_dwell_seconds", "float", False, "Median seconds between pre-purchase events.",
                          min_value=0, max_value=86400, why="a session spans at most a day")
    monkeypatch.setitem(FEATURE_TABLES, "session_features",
                        dataclasses.replace(sessions, columns=(*sessions.columns, dwell)))

    files = generate.derived_files(tmp_path)
    assert ("| `median_dwell_seconds` | float | no | >= 0; <= 86400 (a session spans at most a day) | "
            "Median seconds between pre-purchase events. |") in files[feature_schema_doc.PATH]
    suite = yaml.safe_load(files[gx_features_suites.path("session_features")])
    items = suite["expectations"]
    assert items[0]["kwargs"]["column_set"][-3:] == ["median_dwell_seconds", "as_of_date", "as_of_hour"]
    assert {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "median_dwell_seconds"}} in items
    assert {"type": "expect_column_values_to_be_between",
            "kwargs": {"column": "median_dwell_seconds", "min_value": 0, "max_value": 86400},
            "meta": {"why": "a session spans at most a day"}} in items
    assert set(generate.drift(tmp_path)) == {feature_schema_doc.PATH, gx_features_suites.path("session_features")}

    # The job does not write it yet: publishing today's output now fails, naming table and column.
    today = [(c.name, c.sql_type) for c in sessions.all_columns]
    with pytest.raises(FeatureOutputMismatch, match=r"features\.session_features .*'as_of_date'.*declared "
                                                    r"'median_dwell_seconds'"):
        check_output("session_features", today)


def test_the_generated_suites_check_every_declared_rule() -> None:
    for spec in FEATURE_TABLES.values():
        suite = load_suite_spec(f"features_{spec.name}")
        assert suite.table == spec.qualified and suite.allow_empty == spec.allow_empty
        assert suite.partition_columns == spec.partition_columns == ("as_of_date", "as_of_hour")
        items = [(e.type, e.kwargs, e.meta or {}) for e in suite.expectations]
        kwargs = [k for _, k, _ in items]
        assert kwargs[0] == {"column_set": spec.column_names, "exact_match": False}
        unique = [k for t, k, _ in items if "unique" in t]
        assert unique == [{"column": spec.key[0]} if len(spec.key) == 1 else {"column_list": list(spec.key)}]
        for column in spec.all_columns:
            where = f"{spec.name}.{column.name}"
            not_null = [m for t, k, m in items if t == "expect_column_values_to_not_be_null" and k == {
                "column": column.name}]
            assert len(not_null) == (0 if column.nullable else 1), where
            if column.null_why:
                assert not_null[0] == {"why": column.null_why}, where
            if column.type == "bool":
                assert {"column": column.name, "value_set": [True, False]} in kwargs, where
            bounds = [(k, m) for t, k, m in items if t == "expect_column_values_to_be_between"
                      and k.get("column") == column.name]
            if column.min_value is None and column.max_value is None:
                assert not bounds, where
            else:
                assert len(bounds) == 1, where
                k, m = bounds[0]
                assert (k.get("min_value"), k.get("max_value")) == (column.min_value, column.max_value), where
                assert m == ({"why": column.why} if column.why else {}), where
        for type_, expected in HAND_WRITTEN[spec.name]:
            assert (type_, expected) in [(t, k) for t, k, _ in items], spec.name


def test_check_output_names_the_table_and_column() -> None:
    declared = [(c.name, c.sql_type) for c in FEATURE_TABLES["daily_item_sales"].all_columns]
    check_output("daily_item_sales", declared)
    cases = {
        r"column 'units' is TEXT, declared DOUBLE PRECISION": [
            (n, "TEXT" if n == "units" else t) for n, t in declared],
        r"column 3 is 'revenue', declared 'units' \(columns out of order or missing\)": [
            declared[0], declared[1], *declared[3:]],
        r"column 'extra' is not declared": [*declared, ("extra", "TEXT")],
        r"column 'as_of_hour' is missing": declared[:-1],
        r"column 2 is 'store_id', declared 'sales_date' \('store_id' is not declared\)": [
            declared[0], ("store_id", "TEXT"), *declared[1:]],
    }
    for message, columns in cases.items():
        with pytest.raises(FeatureOutputMismatch, match=r"features\.daily_item_sales .*" + message):
            check_output("daily_item_sales", columns)
    with pytest.raises(KeyError, match="features.nope is not a declared feature table"):
        table("features.nope")
    with pytest.raises(ValueError, match="null_why on a nullable column"):
        FeatureColumn("units", "float", True, null_why="dense")
    assert [c.name for c in RUN_COLUMNS] == ["as_of_date", "as_of_hour"]


RUNS = [(name, RunPoint(date(2024, 3, 10))) for name in FEATURE_JOBS] + [
    (name, RunPoint(date(2024, 3, 9), datetime(2024, 3, 9, 13))) for name, job in FEATURE_JOBS.items()
    if job.hourly]


def test_what_the_real_spark_jobs_write_is_what_is_declared(spark, isolated_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Every job, daily and hourly, through the real read -> transform -> Parquet -> publish path: the
    publish check passes, the warehouse table has the declared columns in order, and a column
    Spark guarantees non-null is declared not null (so the GX gate may require it)."""
    from pyspark.sql import types as T

    from tasks.features.lake_io import write_features
    from tasks.features.publish import publish_feature_set
    from tasks.features.run_job import compute_feature_set
    from tasks.warehouse import read_frame

    for name, point in RUNS:
        spec = FEATURE_TABLES[name]
        frame = compute_feature_set(spark, name, point)
        for field in frame.schema.fields:
            if not field.nullable:
                assert not spec.column(field.name).nullable, f"{name}.{field.name}: Spark guarantees non-null"
        assert not any(isinstance(f.dataType, T.NullType) for f in frame.schema.fields), name
        write_features(frame, name, point.as_of_date, point.as_of_hour)
        assert publish_feature_set(name, point.as_of_date, point.as_of_hour) == 0  # the lake is empty
        columns = read_frame(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'features' "
            "AND table_name = :t ORDER BY ordinal_position", {"t": name})["column_name"].tolist()
        assert columns == spec.column_names, name

    # A job whose output drifts from the declaration is refused before anything is written: one
    # row with the job's real schema publishes; declared differently, the next run does not.
    empty = compute_feature_set(spark, "daily_item_sales", RunPoint(date(2024, 3, 11)))
    row = ("p1", date(2024, 3, 10), 2.0, 5.0, 2.5, 1, False)
    one = spark.createDataFrame([row], empty.schema)
    write_features(one, "daily_item_sales", date(2024, 3, 11))
    assert publish_feature_set("daily_item_sales", date(2024, 3, 11)) == 1
    spec = FEATURE_TABLES["daily_item_sales"]
    drifted = tuple(dataclasses.replace(c, type="int") if c.name == "units" else c for c in spec.columns)
    monkeypatch.setitem(FEATURE_TABLES, "daily_item_sales", dataclasses.replace(spec, columns=drifted))
    write_features(one, "daily_item_sales", date(2024, 3, 12))
    with pytest.raises(FeatureOutputMismatch,
                       match=r"features\.daily_item_sales .*column 'units' is DOUBLE PRECISION, declared BIGINT"):
        publish_feature_set("daily_item_sales", date(2024, 3, 12))
    dates = read_frame("SELECT as_of_date FROM features.daily_item_sales")["as_of_date"].tolist()
    assert [str(d)[:10] for d in dates] == ["2024-03-11"]
