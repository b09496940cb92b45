"""The dbt staging and intermediate models are declared once, in tasks/contracts/staging_schema.py.

Their dbt yml (``_staging__models.yml``, ``_intermediate__models.yml``) and docs/staging_schema.md
are derived from it (``python -m tasks.contracts.generate``); a staging column that is a raw
column takes its type, nullability and value list from tasks/ingest/schema.py. These tests fail
when a derived file drifts, when a model has no declaration, when a staging column disagrees with
the raw column it is, and when the declared columns or types are not what dbt builds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tasks.contracts import dbt_staging_models, generate, staging_schema_doc
from tasks.contracts.staging_schema import LAYERS, SQL_TYPES, STAGING_MODELS, StagingColumn, models
from tasks.ingest.schema import ENTITIES, EVENT_TYPES, entity
from tasks.settings import REPO_ROOT

STAGING_FILES = {*dbt_staging_models.PATHS.values(), staging_schema_doc.PATH}
MODELS_DIR = REPO_ROOT / "dbt_project" / "models"
# information_schema.columns.data_type in DuckDB for each declared SQL type.
DUCKDB_TYPES = {"text": "VARCHAR", "bigint": "BIGINT", "integer": "INTEGER", "double precision": "DOUBLE",
                "boolean": "BOOLEAN", "timestamp": "TIMESTAMP", "date": "DATE"}


def _models(relative: str, root: Path = REPO_ROOT) -> dict[str, dict]:
    return {m["name"]: m for m in yaml.safe_load((root / relative).read_text())["models"]}


def test_every_model_is_declared_and_its_derived_files_match() -> None:
    for layer in LAYERS:
        assert {m.name for m in models(layer)} == {p.stem for p in (MODELS_DIR / layer).glob("*.sql")}, layer
    assert {m.name for m in models("staging")} == {f"stg_raw__{e}" for e in ENTITIES}
    assert STAGING_FILES <= set(generate.derived_files())
    drifted = {path: diff for path, diff in generate.drift().items() if path in STAGING_FILES}
    assert not drifted, "staging files drifted; run `python -m tasks.contracts.generate`:\n" + "\n".join(
        drifted.values())


def test_planted_drift_is_caught_and_rewritten(tmp_path: Path) -> None:
    for relative in generate.derived_files():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)
    assert generate.drift(tmp_path) == {}
    yml = tmp_path / dbt_staging_models.PATHS["intermediate"]
    typed = "      - name: n_orders\n        data_type: bigint\n"
    assert typed in yml.read_text()
    yml.write_text(yml.read_text().replace(typed, typed.replace("bigint", "integer")))
    staging = tmp_path / dbt_staging_models.PATHS["staging"]
    staging.write_text(staging.read_text().replace("        data_tests: [unique, not_null]\n", "", 1))
    doc = tmp_path / staging_schema_doc.PATH
    doc.write_text(doc.read_text().replace("| `position` | integer | no |", "| `position` | bigint | no |"))

    drifted = generate.drift(tmp_path)
    assert set(drifted) == STAGING_FILES
    assert "+        data_type: bigint" in drifted[dbt_staging_models.PATHS["intermediate"]]
    assert "+        data_tests: [unique, not_null]" in drifted[dbt_staging_models.PATHS["staging"]]
    generate.write(tmp_path)
    assert generate.drift(tmp_path) == {}


def test_a_staging_column_is_the_raw_column_it_stages() -> None:
    """Type, nullability and value list of a staged raw column come from tasks/ingest/schema.py."""
    for model in STAGING_MODELS.values():
        assert model.description.startswith("One row per "), model.name
        assert len(set(model.column_names)) == len(model.column_names), model.name
        assert all(not model.column(k).nullable for k in model.key), model.name
        if model.layer == "staging":
            assert model.key == entity(model.name.removeprefix("stg_raw__")).key, model.name
        for column in model.columns:
            where, source = f"{model.name}.{column.name}", column.derived_from
            if source.endswith((".dt", ".hr", "._source")):  # the loader's partition columns
                continue
            if source.startswith("raw."):
                _, entity_name, raw_name = source.split(".")
                raw = entity(entity_name).column(raw_name)
                assert column.sql_type == SQL_TYPES[raw.type] or (raw.type, column.sql_type) == ("int", "integer")
                assert (column.nullable, column.allowed_values) == (raw.nullable, raw.allowed_values), where
            elif source:
                passed = STAGING_MODELS[source.split(".")[0]].column(source.split(".")[1])
                assert (column.sql_type, column.allowed_values) == (passed.sql_type, passed.allowed_values), where
    with pytest.raises(ValueError, match="needs a description"):
        StagingColumn("x", "text")
    with pytest.raises(ValueError, match="type 'string' is not one of"):
        StagingColumn("x", "string", description="raw vocabulary, not SQL")


def test_the_dbt_yml_states_every_declared_rule() -> None:
    for layer, path in dbt_staging_models.PATHS.items():
        built = _models(path)
        assert list(built) == [m.name for m in models(layer)]
        for spec in models(layer):
            model = built[spec.name]
            assert "config" not in model, spec.name  # documented types, not an enforced contract
            combos = [t["unique_combination_of_columns"]["arguments"]["combination_of_columns"]
                      for t in model.get("data_tests", [])]
            assert combos == ([list(spec.key)] if len(spec.key) > 1 else []), spec.name
            assert [c["name"] for c in model["columns"]] == spec.column_names
            for item in model["columns"]:
                column, where = spec.column(item["name"]), f"{spec.name}.{item['name']}"
                assert item["data_type"] == column.sql_type and item["description"].strip(), where
                tests = item.get("data_tests", [])
                names = [t if isinstance(t, str) else next(iter(t)) for t in tests]
                assert ("not_null" in names) == (not column.nullable), where
                assert ("unique" in names) == (spec.key == (column.name,)), where
                values = [t["accepted_values"]["arguments"]["values"] for t in tests if isinstance(t, dict)]
                assert values == ([list(column.allowed_values)] if column.allowed_values else []), where
    text = (REPO_ROOT / dbt_staging_models.PATHS["staging"]).read_text()
    assert f"values: {json.dumps(list(EVENT_TYPES))}  # contract: events.event_type" in text


def test_declared_columns_and_types_are_what_dbt_builds(isolated_home: Path) -> None:
    """dbt builds every staging and intermediate view on the dbt tests' small raw layer; each view's
    columns, in order, and their DuckDB types are the declaration's."""
    from tasks.transform import run_dbt
    from tasks.warehouse import read_frame
    from tests.dbt.conftest import load_sample_raw

    load_sample_raw()
    run_dbt(["run", "--select", "tag:staging", "tag:intermediate"])
    built = read_frame("SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema IN ('staging', 'intermediate') ORDER BY table_name, ordinal_position")
    assert set(built["table_name"]) == set(STAGING_MODELS)
    for (layer, name), columns in built.groupby(["table_schema", "table_name"], sort=False):
        spec = STAGING_MODELS[name]
        assert layer == spec.layer
        assert list(zip(columns["column_name"], columns["data_type"], strict=True)) == [
            (c.name, DUCKDB_TYPES[c.sql_type]) for c in spec.columns], name
