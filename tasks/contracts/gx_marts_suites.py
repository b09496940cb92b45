"""``expectations/marts_<table>.yml`` rendered from the marts contracts.

Same two-part layout as the raw and serving suites: above the ``MARKER`` line the generated
part, below it hand-written expectations kept verbatim. The generated part is the serving
suites' (``gx_serving_suites.generated_expectations``: column set, not-null on the key and on
every non-nullable column, key uniqueness, allowed values, bounds) plus, as in the raw suites,
the boolean value set of every ``bool`` column.
"""

from __future__ import annotations

import textwrap
from typing import Any

from tasks.contracts.gx_raw_suites import MARKER as MARKER  # re-exported: tests read the marker here
from tasks.contracts.gx_raw_suites import _expectation, render_suite
from tasks.contracts.gx_serving_suites import generated_expectations as _serving_expectations
from tasks.contracts.marts_schema import MARTS_TABLES, MartTable

HEADER = """\
# GENERATED down to the "hand-written" line by `python -m tasks.contracts.generate` from the
# marts contract in tasks/contracts/marts_schema.py: change a column or value rule there and
# re-run. Expectations the contract cannot express go below that line; the generator keeps them.
"""


def path(table_name: str) -> str:
    return f"expectations/marts_{table_name}.yml"


def generated_expectations(spec: MartTable) -> list[dict[str, Any]]:
    """What the contract alone says about ``marts.<table>`` (one partition, or the whole table)."""
    out = _serving_expectations(spec)  # type: ignore[arg-type]  # a MartTable has ServingTable's fields
    out += [_expectation("expect_column_values_to_be_in_set", column=c.name, value_set=[True, False])
            for c in spec.columns if c.type == "bool" and not c.allowed_values]
    return out


def render(spec: MartTable, existing: str | None) -> str:
    partition = f"{{column: {spec.partition}}}" if spec.partition else "null"
    return render_suite(
        HEADER, suite=f"marts_{spec.name}", table=spec.qualified, description=spec.purpose,
        partition=partition, notes=textwrap.wrap(spec.empty_note, 98),
        allow_empty=spec.allow_empty, expectations=generated_expectations(spec), existing=existing)


def render_all(read: Any) -> dict[str, str]:
    """``{path: text}`` for every marts suite; ``read(path)`` gives the current text or None."""
    return {path(name): render(spec, read(path(name))) for name, spec in MARTS_TABLES.items()}
