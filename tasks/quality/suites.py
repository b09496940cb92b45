"""Reading and checking the declarative suite files in ``expectations/``.

Kept free of great_expectations imports so a DAG or CLI can list and validate suites
without paying for the GX import; ``gx_runner`` turns a spec into GX objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def list_suites(directory: Path = EXPECTATIONS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yml"))


def load_suite_spec(suite_name: str, directory: Path = EXPECTATIONS_DIR) -> SuiteSpec:
    path = directory / f"{suite_name}.yml"
    if not path.exists():
        raise FileNotFoundError(f"no suite {suite_name!r}: {path} does not exist (have {list_suites(directory)})")
    raw = yaml.safe_load(path.read_text()) or {}
    problems: list[str] = []
    if raw.get("suite") != suite_name:
        problems.append(f"'suite' must equal the file name {suite_name!r}, got {raw.get('suite')!r}")
    table = raw.get("table")
    try:
        qualified(str(table))
    except ValueError as exc:
        problems.append(f"'table': {exc}")
    partition = raw.get("partition")
    columns: list[str] = []
    if partition is not None:
        if not isinstance(partition, dict) or "column" not in partition:
            problems.append("'partition' must be null or {column: ..., hourly_column: ...}")
        else:
            columns = [partition["column"]] + ([partition["hourly_column"]] if partition.get("hourly_column") else [])
    for col in columns:
        try:
            quote_ident(col)
        except ValueError as exc:
            problems.append(f"'partition': {exc}")
    computed = raw.get("computed_columns") or {}
    if not isinstance(computed, dict):
        problems.append("'computed_columns' must map a new column name to a pandas expression")
    expectations = []
    for i, item in enumerate(raw.get("expectations") or []):
        if not isinstance(item, dict) or "type" not in item:
            problems.append(f"expectation #{i + 1} needs a 'type'")
            continue
        expectations.append(ExpectationSpec(str(item["type"]), dict(item.get("kwargs") or {}),
                                            dict(item.get("meta") or {})))
    if not expectations:
        problems.append("a suite needs at least one expectation")
    if problems:
        raise SuiteSpecError(f"{path}: " + "; ".join(problems))
    return SuiteSpec(
        suite=suite_name,
        table=str(table),
        description=str(raw.get("description", "")).strip(),
        partition_columns=tuple(columns),
        allow_empty=bool(raw.get("allow_empty", False)),
        computed_columns={str(k): str(v) for k, v in computed.items()},
        expectations=tuple(expectations),
        path=path,
    )
