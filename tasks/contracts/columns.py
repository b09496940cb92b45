"""What the raw, staging, marts and serving table declarations share.

``tasks.ingest.schema`` (raw), ``tasks.contracts.staging_schema`` (staging and intermediate),
``tasks.contracts.marts_schema`` (marts) and ``tasks.score.schema`` (serving) each declare their
tables with their own column and table classes; the column lookups, the short column constructor
``_c`` and the ``table("<schema>.<name>")`` lookup are the same for all of them and live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar


class _Named(Protocol):
    name: str
    nullable: bool


ColumnT = TypeVar("ColumnT", bound=_Named)
TableT = TypeVar("TableT")


def column_factory(cls: Callable[..., ColumnT]) -> Callable[..., ColumnT]:
    """The short constructor every declaration uses: ``_c(name, type, nullable=True, description="", **rules)``."""

    def make(name: str, type_: str, nullable: bool = True, description: str = "", **rules: Any) -> ColumnT:
        return cls(name, type_, nullable, description, **rules)

    return make


class ColumnLookup(Generic[ColumnT]):
    """``column_names``, ``required`` and ``column(name)`` over a table's ``all_columns``.

    A table class provides ``all_columns`` (every column in write/select order) and
    ``_column_owner`` (how a missing-column error names the table).
    """

    all_columns: tuple[ColumnT, ...]
    _column_owner: str

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.all_columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.all_columns if not c.nullable]

    def column(self, name: str) -> ColumnT:
        for col in self.all_columns:
            if col.name == name:
                return col
        raise KeyError(f"{self._column_owner} has no column {name!r}")


def table_lookup(tables: Mapping[str, TableT], schema: str, what: str, declared_in: str,
                 qualified: str) -> TableT:
    """``"<schema>.<name>"`` -> the declaration in ``tables`` (a clear error for an undeclared table)."""
    schema_, _, name = qualified.partition(".")
    if schema_ != schema or name not in tables:
        raise KeyError(f"{qualified} is not a declared {what} ({declared_in}); known: {sorted(tables)}")
    return tables[name]
