"""Reading and checking the declarative suite files in ``expectations/``.

Kept free of great_expectations imports so a DAG or CLI can list and validate suites
without paying for the GX import; ``gx_runner`` turns a spec into GX objects. The file
format is the pydantic models below (``extra="forbid"``): a misspelt key is an error
naming the file, the key path and the key it probably meant, not a silently ignored line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tasks.config_errors import describe
from tasks.settings import REPO_ROOT
from tasks.warehouse.identifiers import qualified, quote_ident

EXPECTATIONS_DIR = REPO_ROOT / "expectations"


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteSpec:
    """One ``expectations/<suite>.yml``: what table it protects and how it is partitioned."""

    suite: str
    table: str
    description: str
    partition_columns: tuple[str, ...]
    allow_empty: bool
    computed_columns: dict[str, str]
    expectations: tuple[ExpectationSpec, ...]
    path: Path

    def check_partition(self, values: dict[str, Any] | None) -> dict[str, Any]:
        """Partition filter for this suite; unknown columns are a caller bug, not data."""
        values = dict(values or {})
        unknown = set(values) - set(self.partition_columns)
        if unknown:
            raise ValueError(
                f"suite {self.suite!r} is partitioned by {list(self.partition_columns) or 'nothing'}; "
                f"got partition values for {sorted(unknown)}"
            )
        return values


class SuiteSpecError(ValueError):
    """A suite file is malformed (caught by tests/quality before it reaches a DAG)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _PartitionFile(_Strict):
    """``partition: {column: dt, hourly_column: hr}``."""

    column: str
    hourly_column: str | None = None

    @field_validator("column", "hourly_column")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None:
            quote_ident(value)  # ValueError: not a plain SQL identifier
        return value


class _ExpectationFile(_Strict):
    type: str = Field(min_length=1)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kwargs", "meta", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return {} if value is None else value  # `kwargs:` with nothing after it


class SuiteFile(_Strict):
    """The format of ``expectations/<suite>.yml``."""

    suite: str
    table: str
    description: str = ""
    partition: _PartitionFile | None = None
    allow_empty: bool = False
    computed_columns: dict[str, str] = Field(default_factory=dict)  # new column -> pandas expression
    expectations: list[_ExpectationFile] = Field(min_length=1)

    @field_validator("table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        qualified(value)  # ValueError: not schema.table of plain identifiers
        return value

    @field_validator("computed_columns", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value


def list_suites(directory: Path = EXPECTATIONS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yml"))


def load_suite_spec(suite_name: str, directory: Path = EXPECTATIONS_DIR) -> SuiteSpec:
    """Read and validate ``<directory>/<suite_name>.yml``; SuiteSpecError names file and key path."""
    path = directory / f"{suite_name}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no suite {suite_name!r}: {path} does not exist (have {list_suites(directory)})")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteSpecError(f"{path}: not valid YAML: {exc}") from None
    try:
        doc = SuiteFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise SuiteSpecError(f"{path}: " + "; ".join(describe(exc, SuiteFile))) from None
    if doc.suite != suite_name:
        raise SuiteSpecError(f"{path}: suite: must equal the file name {suite_name!r}, got {doc.suite!r}")
    partition = doc.partition
    columns = () if partition is None else (partition.column,) + ((partition.hourly_column,)
                                                                  if partition.hourly_column else ())
    return SuiteSpec(
        suite=suite_name,
        table=doc.table,
        description=doc.description.strip(),
        partition_columns=columns,
        allow_empty=doc.allow_empty,
        computed_columns=dict(doc.computed_columns),
        expectations=tuple(ExpectationSpec(e.type, dict(e.kwargs), dict(e.meta)) for e in doc.expectations),
        path=path,
    )
