"""The suite file format (tasks/quality/suites.py): every mistake names the file, the key path
and, for a misspelt key, the key it probably meant. No GX import: these run in milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.quality.suites import SuiteSpecError, list_suites, load_suite_spec

GOOD = """\
suite: s
table: raw.events
description: " events "
partition: {column: dt, hourly_column: hr}
allow_empty: true
computed_columns: {n: "a + b"}
expectations:
  - type: expect_column_values_to_not_be_null
    kwargs: {column: event_id}
    meta: {why: key}
"""


def _load(tmp_path: Path, text: str):  # noqa: ANN202 - SuiteSpec
    (tmp_path / "s.yml").write_text(text)
    return load_suite_spec("s", tmp_path)


def test_every_shipped_suite_is_valid() -> None:
    names = list_suites()
    assert len(names) > 20
    for name in names:
        assert load_suite_spec(name).expectations


def test_a_good_file_is_read_as_written(tmp_path: Path) -> None:
    spec = _load(tmp_path, GOOD)
    assert (spec.table, spec.description, spec.partition_columns, spec.allow_empty) == (
        "raw.events", "events", ("dt", "hr"), True)
    assert spec.computed_columns == {"n": "a + b"}
    assert [(e.type, e.kwargs, e.meta) for e in spec.expectations] == [
        ("expect_column_values_to_not_be_null", {"column": "event_id"}, {"why": "key"})]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("hourly_column: hr", "hourly_colum: hr",
     "partition.hourly_colum: unknown key(s) ['hourly_colum'] (did you mean 'hourly_column'?); "
     "allowed keys are ['column', 'hourly_column']"),
    ("    kwargs: {column", "    kwarg: {column",
     "expectations[0].kwarg: unknown key(s) ['kwarg'] (did you mean 'kwargs'?)"),
    ("description:", "descripton:", "descripton: unknown key(s) ['descripton'] at the top level "
     "(did you mean 'description'?)"),
    ("allow_empty: true", "allow_empty: [true]", "allow_empty: Input should be a valid boolean"),
    ("computed_columns: {n: \"a + b\"}", "computed_columns: [n]", "computed_columns: Input should be a valid "
     "dictionary"),
    ("table: raw.events", "table: raw.events; DROP", "table: invalid SQL identifier 'events; DROP'"),
    ("{column: dt,", "{column: \"dt hr\",", "partition.column: invalid SQL identifier 'dt hr'"),
    ("  - type: expect_column_values_to_not_be_null\n", "  - kwargs: {column: x}\n",
     "expectations[0]: missing required key(s) ['type']"),
    ("suite: s", "suite: t", "suite: must equal the file name 's', got 't'"),
])
def test_a_mistake_names_file_key_path_and_hint(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    with pytest.raises(SuiteSpecError) as err:
        _load(tmp_path, GOOD.replace(old, new))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 's.yml'}: "), message
    assert expected in message, message


def test_a_suite_needs_an_expectation(tmp_path: Path) -> None:
    with pytest.raises(SuiteSpecError, match=r"expectations: List should have at least 1 item"):
        _load(tmp_path, GOOD.split("expectations:")[0] + "expectations: []\n")


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteSpecError, match=r"s\.yml: not valid YAML"):
        _load(tmp_path, "suite: [unclosed\n")
