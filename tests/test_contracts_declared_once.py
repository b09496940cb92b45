"""Each raw table's contract is declared once, in tasks/ingest/schema.py.

The dbt sources, the generated part of every GX raw suite, docs/canonical_schema.md and the
value lists pinned to a column are derived from it (``python -m tasks.contracts.generate``);
the loader reads it at run time. These tests fail when a derived file drifts, when the
generator would drop hand-written expectations, and when the event-type list is typed again.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tasks.contracts import canonical_schema_doc, dbt_sources, generate, gx_raw_suites, pinned_values
from tasks.ingest import schema
from tasks.ingest.schema import ENTITIES, EVENT_TYPES, Column
from tasks.ingest.validate import validate_partition
from tasks.quality.suites import load_suite_spec
from tasks.settings import REPO_ROOT

PYTHON_PACKAGES = ("tasks", "dags", "plugins")


def _copy_tree(root: Path) -> None:
    """The derived files and every file a pinned list may live in, under ``root``."""
    for relative in generate.derived_files():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO_ROOT / relative, target)


def test_derived_files_match_the_declaration() -> None:
    drifted = generate.drift()
    assert not drifted, "derived files drifted; run `python -m tasks.contracts.generate`:\n" + "\n".join(
        drifted.values())


def test_check_cli_passes_on_the_committed_tree() -> None:
    run = subprocess.run([sys.executable, "-m", "tasks.contracts.generate", "--check"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "match" in run.stdout


def test_every_kind_of_drift_is_caught_and_rewriting_keeps_hand_written_checks(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    assert generate.drift(tmp_path) == {}
    sources = tmp_path / "dbt_project/models/staging/_raw__sources.yml"
    sources.write_text(sources.read_text().replace("          - name: query\n            data_type: text\n", ""))
    suite = tmp_path / "expectations/raw_users.yml"
    suite.write_text(suite.read_text().replace("kwargs: {column: signup_at}", "kwargs: {column: country}"))
    doc = tmp_path / "docs/canonical_schema.md"
    doc.write_text(doc.read_text().replace("| `amount` | float | no |", "| `amount` | float | yes |"))
    marts = tmp_path / "dbt_project/models/marts/_marts__models.yml"
    marts.write_text(marts.read_text().replace('"purchase", "search"]  # contract', '"purchase"]  # contract'))

    drifted = generate.drift(tmp_path)
    assert set(drifted) == {str(p.relative_to(tmp_path)) for p in (sources, suite, doc, marts)}
    assert "+          - name: query" in drifted[str(sources.relative_to(tmp_path))]

    generate.write(tmp_path)
    assert generate.drift(tmp_path) == {}
    assert '"purchase", "search"]  # contract: events.event_type' in marts.read_text()
    # The PII check below the marker survived the rewrite, and the file is still one valid suite.
    spec = load_suite_spec("raw_users", tmp_path / "expectations")
    assert [e.kwargs.get("regex") for e in spec.expectations if e.type == "expect_column_values_to_not_match_regex"] \
        == ["@"]


def test_a_new_column_and_value_rule_reach_every_derived_file_and_the_loader(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Adding a column is one edit of schema.py: dbt, GX, docs and the loader follow."""
    _copy_tree(tmp_path)
    sessions = ENTITIES["sessions"]
    referrer = Column("referrer", "string", True, "Where the session came from.",
                      allowed_values=("search", "ad", "direct"))
    monkeypatch.setitem(ENTITIES, "sessions", dataclasses.replace(sessions, columns=(*sessions.columns, referrer)))

    files = generate.derived_files(tmp_path)
    sources = yaml.safe_load(files["dbt_project/models/staging/_raw__sources.yml"])
    table = next(t for t in sources["sources"][0]["tables"] if t["name"] == "sessions")
    assert {"name": "referrer", "data_type": "text",
            "description": "Where the session came from. Values: one of search, ad, direct."} in table["columns"]
    assert "| `referrer` | string | yes | one of `search`, `ad`, `direct` |" in files["docs/canonical_schema.md"]
    suite = yaml.safe_load(files["expectations/raw_sessions.yml"])
    assert "referrer" in suite["expectations"][0]["kwargs"]["column_set"]
    assert {"column": "referrer", "value_set": ["search", "ad", "direct"]} in [e["kwargs"] for e in suite["expectations"]]

    frame = pd.DataFrame({"session_id": ["s1", "s2"], "started_at": ["2026-01-02 08:00:00"] * 2,
                          "referrer": ["ad", "billboard"]})
    result = validate_partition(ENTITIES["sessions"], frame, datetime(2026, 1, 2), datetime(2026, 1, 3))
    assert list(result.accepted["session_id"]) == ["s1"]
    assert list(result.rejected["_reason"]) == ["referrer: 'billboard' is not one of ['search', 'ad', 'direct']"]


def test_declared_bounds_are_what_the_loader_quarantines_and_the_gate_checks() -> None:
    inventory = ENTITIES["inventory"]
    frame = pd.DataFrame({"product_id": ["p1", "p2"], "stock_quantity": ["0", "-2"],
                          "snapshot_at": ["2026-01-02 01:00:00"] * 2})
    result = validate_partition(inventory, frame, datetime(2026, 1, 2), datetime(2026, 1, 3))
    assert list(result.rejected["_reason"]) == ["stock_quantity: must be >= 0 (got -2)"]
    spec = load_suite_spec("raw_inventory")
    assert {"column": "stock_quantity", "min_value": 0} in [e.kwargs for e in spec.expectations]
    for entity in ENTITIES.values():  # every declared rule is in its entity's gate
        kwargs = [e.kwargs for e in load_suite_spec(f"raw_{entity.name}").expectations]
        for column in entity.columns:
            if column.allowed_values and column.name not in schema.LOADER_FILLED.get(entity.name, ()):
                assert {"column": column.name, "value_set": list(column.allowed_values)} in kwargs
            if column.min_value is not None:
                assert any(k.get("column") == column.name and k.get("min_value") == column.min_value
                           and bool(k.get("strict_min")) == column.strict_min for k in kwargs), column.name


def test_every_description_states_the_grain() -> None:
    for entity in ENTITIES.values():
        assert entity.description.startswith("One row per "), entity.name


def _string_collections(tree: ast.AST) -> list[tuple[int, set[str]]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            strings = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            found.append((node.lineno, strings))
    return found


def test_event_types_are_defined_in_exactly_one_python_literal() -> None:
    definitions = []
    for package in PYTHON_PACKAGES:
        for file in sorted((REPO_ROOT / package).rglob("*.py")):
            tree = ast.parse(file.read_text(), filename=str(file))
            definitions += [f"{file.relative_to(REPO_ROOT)}:{line}" for line, strings in _string_collections(tree)
                            if set(EVENT_TYPES) <= strings]
    assert definitions == [f"tasks/ingest/schema.py:{_event_types_line()}"], definitions


def _event_types_line() -> int:
    source = (REPO_ROOT / "tasks/ingest/schema.py").read_text()
    return next(i for i, line in enumerate(source.splitlines(), start=1) if line.startswith("EVENT_TYPES = ("))


def test_event_type_lists_outside_python_are_generated_or_pinned() -> None:
    """A yml/sql/doc line listing every event type is generated or pinned to the contract."""
    generated = {dbt_sources.PATH, canonical_schema_doc.PATH}
    pattern = re.compile(r"\b" + r"\b.*\b".join(EVENT_TYPES) + r"\b")
    stray = []
    for glob in ("dbt_project/models/**/*.yml", "dbt_project/**/*.sql", "expectations/*.yml", "docs/*.md"):
        for file in REPO_ROOT.glob(glob):
            relative = file.relative_to(REPO_ROOT).as_posix()
            if relative in generated or relative.startswith(("dbt_project/target/", "dbt_project/dbt_packages/")):
                continue
            text = file.read_text()
            if gx_raw_suites.MARKER in text:  # a raw suite: only the part below the marker is typed by hand
                text = text.split(gx_raw_suites.MARKER, 1)[1]
            for number, line in enumerate(text.splitlines(), start=1):
                if pattern.search(line) and "# contract: events.event_type" not in line:
                    stray.append(f"{relative}:{number}")
    assert stray == [], f"event types typed by hand (pin with '# contract: events.event_type'): {stray}"


def test_a_pin_on_a_column_without_allowed_values_is_an_error() -> None:
    with pytest.raises(pinned_values.PinError, match=r"x.yml line 2: events.device declares no allowed values"):
        pinned_values.rewrite("a: 1\nvalues: [a, b]  # contract: events.device\n", "x.yml")
    with pytest.raises(pinned_values.PinError, match="unknown entity 'event'"):
        pinned_values.rewrite("values: [a]  # contract: event.event_type", "x.yml")


def test_generated_suite_part_is_separated_from_the_hand_written_part() -> None:
    for name in ENTITIES:
        text = (REPO_ROOT / gx_raw_suites.path(name)).read_text()
        assert text.count(gx_raw_suites.MARKER + "\n") == 1, name
        head, tail = text.split(gx_raw_suites.MARKER + "\n")
        assert "# contract:" not in tail
        assert yaml.safe_load(head)["suite"] == f"raw_{name}"
