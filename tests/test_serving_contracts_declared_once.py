"""Each serving table's contract is declared once, in tasks/score/schema.py.

The dbt sources of schema ``serving``, the generated part of every ``expectations/serving_*.yml``
and docs/serving_schema.md are derived from it (``python -m tasks.contracts.generate``), and
``write_serving`` checks every scorer's frame against it before the write. These tests fail
when a derived file drifts, when the generator would drop hand-written expectations, when a
scorer writes something the declaration does not say, and when a value list the model code
also defines disagrees with it.
"""

from __future__ import annotations

import ast
import dataclasses
import logging
import shutil
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tasks.contracts import dbt_serving_sources, generate, gx_serving_suites, serving_schema_doc
from tasks.quality.suites import load_suite_spec
from tasks.score import schema
from tasks.score.common import SERVING_SCHEMAS
from tasks.score.pipeline import SCORERS
from tasks.score.schema import SERVING_TABLES, ServingColumn, ServingContractError, check_frame
from tasks.settings import REPO_ROOT

SERVING_FILES = {dbt_serving_sources.PATH, serving_schema_doc.PATH,
                 *(gx_serving_suites.path(name) for name in SERVING_TABLES)}
D = date(2026, 1, 3)
HOUR = datetime(2026, 1, 3, 9)


def _copy_tree(root: Path) -> None:
    for relative in generate.derived_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)


def test_every_serving_table_has_derived_files_and_they_match() -> None:
    assert SERVING_FILES <= set(generate.derived_files())
    drifted = {path: diff for path, diff in generate.drift().items() if path in SERVING_FILES}
    assert not drifted, "serving files drifted; run `python -m tasks.contracts.generate`:\n" + "\n".join(
        drifted.values())


def test_planted_drift_is_caught_and_rewriting_keeps_hand_written_checks(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert generate.drift(tmp_path) == {}
    sources = tmp_path / dbt_serving_sources.PATH
    text = sources.read_text()
    assert "          - name: threshold\n            data_type: double precision\n" in text
    sources.write_text(text.replace("          - name: threshold\n            data_type: double precision\n", ""))
    suite = tmp_path / "expectations/serving_risk_labels.yml"
    suite.write_text(suite.read_text().replace("value_set: [pass, review, block]", "value_set: [pass, block]"))
    doc = tmp_path / serving_schema_doc.PATH
    doc.write_text(doc.read_text().replace("| `item_id` | string | no |", "| `item_id` | string | yes |"))

    drifted = generate.drift(tmp_path)
    assert set(drifted) == {dbt_serving_sources.PATH, "expectations/serving_risk_labels.yml",
                            serving_schema_doc.PATH}
    assert "+          - name: threshold" in drifted[dbt_serving_sources.PATH]
    assert "+    kwargs: {column: label, value_set: [pass, review, block]}" in drifted[
        "expectations/serving_risk_labels.yml"]

    generate.write(tmp_path)
    assert generate.drift(tmp_path) == {}
    # The column-pair checks below the marker survived, and the file is still one valid suite.
    spec = load_suite_spec("serving_demand_forecasts", tmp_path / "expectations")
    pairs = [(e.kwargs["column_A"], e.kwargs["column_B"]) for e in spec.expectations
             if e.type == "expect_column_pair_values_a_to_be_greater_than_b"]
    assert pairs == [("p50", "p10"), ("p90", "p50"), ("forecast_date", "as_of_date")]


def test_a_new_column_reaches_every_derived_file_and_the_writer(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """Publishing a column is one edit of tasks/score/schema.py: dbt, GX, docs and the writer follow."""
    _copy_tree(tmp_path)
    risk = SERVING_TABLES["risk_labels"]
    channel = ServingColumn("channel", "string", False, "Where the payment came from.",
                            allowed_values=("web", "app"))
    monkeypatch.setitem(SERVING_TABLES, "risk_labels", dataclasses.replace(risk, columns=(*risk.columns, channel)))

    files = generate.derived_files(tmp_path)
    sources = yaml.safe_load(files[dbt_serving_sources.PATH])
    table = next(t for t in sources["sources"][0]["tables"] if t["name"] == "risk_labels")
    assert {"name": "channel", "data_type": "text",
            "description": "Where the payment came from. Values: one of web, app. Never null."} in table["columns"]
    assert "| `channel` | string | no | one of `web`, `app` |" in files[serving_schema_doc.PATH]
    suite = yaml.safe_load(files["expectations/serving_risk_labels.yml"])
    kwargs = [e["kwargs"] for e in suite["expectations"]]
    assert "channel" in kwargs[0]["column_set"]
    assert {"column": "channel"} in kwargs and {"column": "channel", "value_set": ["web", "app"]} in kwargs

    frame = _risk_frame()
    with pytest.raises(ServingContractError, match=r"serving.risk_labels: scorer produced no column\(s\) "
                                                   r"\['channel'\]"):
        check_frame("serving.risk_labels", frame)
    written = check_frame("serving.risk_labels", frame.assign(channel="web"))
    assert list(written.columns)[-6:] == ["channel", "as_of_date", "as_of_hour", "model_version", "run_id",
                                          "scored_at"]


def _risk_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "scored_at": [HOUR.replace(hour=10)] * 2, "transaction_id": ["t1", "t2"], "user_id": ["u1", None],
        "risk_score": ["0.1", 0.9], "label": ["pass", "block"], "action": ["none", "intercept"],
        "reasons": ["", "velocity"], "as_of_date": [D, D], "as_of_hour": [HOUR, HOUR], "model_version": "v1",
        "run_id": "r1", "working_column": [1, 2],
    })


def test_the_writer_check_orders_types_and_names_table_and_column(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="tasks.score.schema"):
        out = check_frame("serving.risk_labels", _risk_frame())
    assert "serving.risk_labels: not writing undeclared column(s) ['working_column']" in caplog.messages
    assert list(out.columns) == list(SERVING_SCHEMAS["serving.risk_labels"])  # declared order, extras dropped
    assert out["risk_score"].dtype == float and list(out["user_id"]) == ["u1", None]

    cases = {
        "serving.risk_labels.transaction_id: 1 null value(s) in a column declared not null":
            _risk_frame().assign(transaction_id=["t1", None]),
        "serving.risk_labels.risk_score: values do not fit the declared type 'float'":
            _risk_frame().assign(risk_score=["0.1", "high"]),
        "serving.risk_labels.scored_at: values do not fit the declared type 'timestamp'":
            _risk_frame().assign(scored_at=["2026-01-03 10:00", "not a time"]),
        "serving.risk_labels: scorer produced no column(s) ['label']": _risk_frame().drop(columns="label"),
    }
    for message, frame in cases.items():
        with pytest.raises(ServingContractError, match=message.replace("(", r"\(").replace(")", r"\)")
                           .replace("[", r"\[").replace("]", r"\]")):
            check_frame("serving.risk_labels", frame)
    ranks = pd.DataFrame({"user_id": ["u1"], "item_id": ["p1"], "rank": [1.5], "score": [0.3], "strategy": ["model"],
                          "as_of_date": [D], "model_version": ["v"], "run_id": ["r"], "scored_at": [HOUR]})
    with pytest.raises(ServingContractError, match=r"serving.recommendations.rank: .*'int': fractional values"):
        check_frame("serving.recommendations", ranks)
    assert check_frame("serving.recommendations", ranks.assign(rank=[2.0]))["rank"].dtype == "int64"
    with pytest.raises(KeyError, match="serving.nope is not a declared serving table"):
        check_frame("serving.nope", ranks)


def test_the_declaration_rejects_what_the_writer_could_not_keep() -> None:
    with pytest.raises(ValueError, match="an int column must be declared not null"):
        ServingColumn("n", "int", True)
    with pytest.raises(ValueError, match="strict_max without max_value"):
        ServingColumn("p", "float", strict_max=True)


def test_every_description_states_the_grain_and_every_key_is_declared() -> None:
    for spec in SERVING_TABLES.values():
        assert spec.description.startswith("One row per "), spec.name
        for columns in (spec.key, *(cols for cols, _ in spec.also_unique)):
            for column in columns:
                assert not spec.column(column).nullable, f"{spec.name}.{column}: a key column may not be null"


def test_every_scorer_writes_exactly_the_declared_tables() -> None:
    """Every scorer's serving table is declared, and every declared table has a scorer; the
    table names each scorer module writes (its ``*TABLE`` constants) are declared ones."""
    assert set(SCORERS) == set(SERVING_TABLES)
    assert set(SERVING_SCHEMAS) == {f"serving.{name}" for name in SERVING_TABLES}
    written: set[str] = set()
    for module, _, _ in SCORERS.values():
        tree = ast.parse((REPO_ROOT / (module.replace(".", "/") + ".py")).read_text())
        for node in tree.body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and str(node.value.value).startswith("serving.")
                    and any(isinstance(t, ast.Name) and t.id.endswith("TABLE") for t in node.targets)):
                written.add(node.value.value)
    assert written == set(SERVING_SCHEMAS)


def test_the_generated_suites_check_every_declared_rule() -> None:
    for spec in SERVING_TABLES.values():
        suite = load_suite_spec(f"serving_{spec.name}")
        assert suite.table == spec.qualified and suite.allow_empty == spec.allow_empty
        assert suite.partition_columns == spec.partition_columns
        kwargs = [e.kwargs for e in suite.expectations]
        assert kwargs[0] == {"column_set": spec.column_names, "exact_match": False}
        for column in spec.all_columns:
            assert ({"column": column.name} in kwargs) == (not column.nullable), f"{spec.name}.{column.name}"
            if column.allowed_values:
                assert {"column": column.name, "value_set": list(column.allowed_values)} in kwargs
            if column.min_value is not None or column.max_value is not None:
                assert any(k.get("column") == column.name and k.get("min_value") == column.min_value
                           and k.get("max_value") == column.max_value for k in kwargs), column.name


def test_value_lists_agree_with_the_model_code() -> None:
    """The declaration types the lists (it must not import torch); the model code is the behaviour."""
    from tasks.train.inventory_policy.config import BASELINES
    from tasks.train.pricing.config import OBJECTIVES
    from tasks.train.risk.policy import ACTIONS, LABELS
    from tasks.train.session_intent.config import INTENTS
    from tasks.train.uplift.features import SEGMENTS

    assert schema.INTENTS == tuple(INTENTS)
    assert schema.RISK_LABELS == tuple(LABELS)
    assert schema.RISK_ACTIONS == tuple(ACTIONS)
    assert schema.PRICE_OBJECTIVES == tuple(OBJECTIVES)
    assert schema.INVENTORY_POLICIES == ("policy", *BASELINES)
    assert schema.AUDIENCE_SEGMENTS == tuple(SEGMENTS)


def test_the_risk_scorer_writes_exactly_the_declared_columns(isolated_home: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A real scorer (risk, rules fallback: no training needed): every declared column written,
    nothing it computed left out by the writer, and the generated GX suite passes on the rows."""
    from tasks.quality.gx_runner import run_suite
    from tasks.score.risk_labels import score_risk
    from tasks.train import risk
    from tasks.warehouse import read_frame, replace_partition
    from tests.fixtures import synthetic_frames

    hourly = synthetic_frames.transaction_velocity(D, n=40, fraud_rate=0.3, seed=8, as_of_hour=HOUR)
    replace_partition(risk.FEATURE_TABLE, hourly, {"as_of_hour": HOUR},
                      column_types={"as_of_hour": "TIMESTAMP", "is_fraud": "BOOLEAN"})
    with caplog.at_level(logging.DEBUG, logger="tasks.score.schema"):
        assert score_risk(HOUR, "run-1") == 40
    assert not [r.getMessage() for r in caplog.records if "undeclared column" in r.getMessage()]
    out = read_frame("SELECT * FROM serving.risk_labels")
    assert list(out.columns) == SERVING_TABLES["risk_labels"].column_names
    assert run_suite("serving_risk_labels", {"as_of_date": D, "as_of_hour": HOUR}).success
