"""``expectations/serving_<table>.yml`` rendered from the serving table contracts.

Same two-part layout as the raw suites (``tasks/contracts/gx_raw_suites.py``): above the
``MARKER`` line the generated part (column set, not-null on the key and on every non-nullable
column, uniqueness of the key and of the other declared unique sets, allowed values, bounds);
below it hand-written expectations the declaration cannot express (column pairs such as
"quantiles must not cross", regexes), kept verbatim by the generator.
"""

from __future__ import annotations

from typing import Any

from tasks.contracts.gx_raw_suites import MARKER as MARKER  # re-exported: tests read the marker here
from tasks.contracts.gx_raw_suites import _expectation, render_suite
from tasks.score.schema import SERVING_TABLES, ServingTable

HEADER = """\
# GENERATED down to the "hand-written" line by `python -m tasks.contracts.generate` from the
# serving table contract in tasks/score/schema.py: change a column or value rule there and re-run.
# Expectations the contract cannot express go below that line; the generator keeps them.
"""


def path(table_name: str) -> str:
    return f"expectations/serving_{table_name}.yml"


def _unique(columns: tuple[str, ...], why: str) -> dict[str, Any]:
    meta = {"why": why} if why else None
    if len(columns) == 1:
        return _expectation("expect_column_values_to_be_unique", meta, column=columns[0])
    return _expectation("expect_compound_columns_to_be_unique", meta, column_list=list(columns))


def generated_expectations(spec: ServingTable) -> list[dict[str, Any]]:
    """What the contract alone says about one partition of ``serving.<table>``."""
    out = [_expectation("expect_table_columns_to_match_set", column_set=spec.column_names, exact_match=False)]
    out += [_expectation("expect_column_values_to_not_be_null", column=c) for c in spec.key]
    out.append(_unique(spec.key, spec.key_why))
    out += [_expectation("expect_column_values_to_not_be_null", column=c) for c in spec.required
            if c not in spec.key]
    out += [_unique(columns, why) for columns, why in spec.also_unique]
    for column in spec.all_columns:
        meta = {"why": column.why} if column.why else None
        if column.allowed_values:
            out.append(_expectation("expect_column_values_to_be_in_set", meta, column=column.name,
                                    value_set=list(column.allowed_values)))
        if column.min_value is not None or column.max_value is not None:
            bound: dict[str, Any] = {}
            if column.min_value is not None:
                bound["min_value"] = column.min_value
            if column.max_value is not None:
                bound["max_value"] = column.max_value
            if column.strict_min:
                bound["strict_min"] = True
            if column.strict_max:
                bound["strict_max"] = True
            out.append(_expectation("expect_column_values_to_be_between", meta, column=column.name, **bound))
    return out


def render(spec: ServingTable, existing: str | None) -> str:
    partition = "{column: as_of_date, hourly_column: as_of_hour}" if spec.hourly else "{column: as_of_date}"
    cadence = "hourly partitions (as_of_date, as_of_hour)" if spec.hourly else "daily partitions (as_of_date)"
    description = f"{spec.description} Key: {', '.join(spec.key)}; {cadence}."
    return render_suite(
        HEADER, suite=f"serving_{spec.name}", table=spec.qualified, description=description,
        partition=partition, notes=[spec.empty_why] if spec.empty_why else [],
        allow_empty=spec.allow_empty, expectations=generated_expectations(spec), existing=existing)


def render_all(read: Any) -> dict[str, str]:
    """``{path: text}`` for every serving suite; ``read(path)`` gives the current text or None."""
    return {path(name): render(spec, read(path(name))) for name, spec in SERVING_TABLES.items()}
