"""``expectations/features_<set>.yml`` rendered from the feature table contracts.

Same two-part layout as the raw, serving and marts suites: above the ``MARKER`` line the
generated part, the marts suites' (``gx_marts_suites.generated_expectations``: column set,
not-null on the key and on every non-nullable column, key uniqueness, bounds, the boolean value
set of every ``bool`` column), with a column's ``null_why`` as its not-null expectation's
``meta``; below it hand-written expectations the declaration cannot express (column pairs such
as ``price_max_30d >= price_min_30d``, JSON parseability), kept verbatim by the generator.
"""

from __future__ import annotations

from typing import Any

from tasks.contracts.features_schema import FEATURE_TABLES, FeatureTable
from tasks.contracts.gx_marts_suites import generated_expectations as _marts_expectations
from tasks.contracts.gx_raw_suites import render_suite

HEADER = """\
# GENERATED down to the "hand-written" line by `python -m tasks.contracts.generate` from the
# feature table contract in tasks/contracts/features_schema.py: change a column or value rule
# there and re-run. Expectations the contract cannot express go below that line; the generator
# keeps them.
"""
PARTITION = "{column: as_of_date, hourly_column: as_of_hour}"


def path(table_name: str) -> str:
    return f"expectations/features_{table_name}.yml"


def generated_expectations(spec: FeatureTable) -> list[dict[str, Any]]:
    """What the contract alone says about one partition of ``features.<set>``."""
    out = _marts_expectations(spec)  # type: ignore[arg-type]  # a FeatureTable has MartTable's fields
    for item in out:
        if item["type"] == "expect_column_values_to_not_be_null":
            why = spec.column(item["kwargs"]["column"]).null_why
            if why:
                item["meta"] = {"why": why}
    return out


def render(spec: FeatureTable, existing: str | None) -> str:
    return render_suite(
        HEADER, suite=f"features_{spec.name}", table=spec.qualified, description=spec.purpose,
        partition=PARTITION, notes=[spec.empty_note] if spec.empty_note else [],
        allow_empty=spec.allow_empty, expectations=generated_expectations(spec), existing=existing)


def render_all(read: Any) -> dict[str, str]:
    """``{path: text}`` for every feature suite; ``read(path)`` gives the current text or None."""
    return {path(name): render(spec, read(path(name))) for name, spec in FEATURE_TABLES.items()}
