"""Run a declarative suite (``expectations/<suite>.yml``) as a real GX 1.x Checkpoint.

Why this shape:
- The suite files are the versioned source of truth; the GX file context under
  ``$ECOMFLOW_HOME/gx`` is rebuilt from them on every run (suites, validation definitions and
  checkpoints add_or_update), so editing a YAML takes effect on the next task run and repeated
  runs are idempotent.
- Rows are read from the warehouse in one connection (existence check and read; bound
  parameters, one partition) and validated as a pandas batch, which works the same on DuckDB and
  PostgreSQL and never holds the DuckDB file while GX renders Data Docs.
- A failure raises ``DataQualityError`` naming the failing expectations, their columns and
  observed values, and the Data Docs page, so the failed Airflow task log says what broke
  and where to look.
- Each checkpoint run is named after what it checked (``ecomflow_hourly dt=2026-02-28 hr=13``
  from the DAG, the suite's partition otherwise), so the Data Docs index lists runs by DAG and
  partition instead of by timestamp alone; the pages are then made to open offline
  (``tasks.quality.data_docs_assets``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from tasks.quality.suites import (
    EXPECTATIONS_DIR,
    ExpectationSpec,
    SuiteSpec,
    list_suites,
    load_suite_spec,
)
from tasks.settings import get_settings
from tasks.warehouse import connect, partition_where, qualified
from tasks.warehouse.io import table_columns

if TYPE_CHECKING:  # great_expectations is heavy; import it only when a suite runs.
    from great_expectations.data_context import FileDataContext
    from great_expectations.expectations import Expectation

log = logging.getLogger(__name__)

DATASOURCE_NAME = "ecomflow_warehouse"
BATCH_DEFINITION_NAME = "whole_partition"
MAX_SAMPLES = 5

__all__ = [
    "DataQualityError",
    "ExpectationFailure",
    "SuiteResult",
    "build_expectation",
    "list_suites",
    "one_data_docs_build",
    "load_suite_spec",
    "run_suite",
]


@dataclass(frozen=True)
class ExpectationFailure:
    type: str
    column: str | None
    observed: str

    def __str__(self) -> str:
        where = f" on {self.column}" if self.column else ""
        return f"{self.type}{where}: {self.observed}"


@dataclass
class SuiteResult:
    suite: str
    table: str
    partition: dict[str, Any]
    success: bool
    n_rows: int
    evaluated: int = 0
    failures: list[ExpectationFailure] = field(default_factory=list)
    data_docs_path: Path | None = None
    empty: bool = False


class DataQualityError(RuntimeError):
    """A suite failed; ``result`` carries the details (also in the message)."""

    def __init__(self, message: str, result: SuiteResult) -> None:
        super().__init__(message)
        self.result = result


def _expectation_classes() -> dict[str, type]:
    import great_expectations as gx

    classes = {}
    for name in dir(gx.expectations):
        obj = getattr(gx.expectations, name)
        if isinstance(obj, type) and issubclass(obj, gx.expectations.Expectation):
            classes[name.lower()] = obj
    return classes


def build_expectation(spec: ExpectationSpec) -> Expectation:
    """``{type: expect_column_values_to_not_be_null, kwargs}`` -> ``gx.expectations.ExpectColumnValuesToNotBeNull(**kwargs)``."""
    classes = _expectation_classes()
    cls = classes.get(spec.type.replace("_", "").lower())
    if cls is None:
        raise ValueError(f"unknown GX expectation type {spec.type!r} (not in great_expectations.expectations)")
    return cls(**spec.kwargs, meta=spec.meta or None)


@contextmanager
def _gx_lock(root: Path) -> Iterator[None]:
    """One process at a time edits the file context (PostgreSQL runs tasks in parallel)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".ecomflow.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Gate:
    """What one gate (``one_data_docs_build``) shares between its checkpoints."""

    pending: list[Any] = field(default_factory=list)  # validated runs and suites, for one Data Docs build
    locks: ExitStack = field(default_factory=ExitStack)  # the file context's lock, once taken
    context: FileDataContext | None = None
    docs: Path | None = None  # the Data Docs index's path, looked up once


#: Inside ``one_data_docs_build``: the gate's shared state.
_GATE: ContextVar[_Gate | None] = ContextVar("_GATE", default=None)


@contextmanager
def one_data_docs_build() -> Iterator[None]:
    """Checkpoints run inside the block share one GX context and one Data Docs build.

    Why: GX's ``UpdateDataDocsAction`` renders the validated run's page *and the site's index*
    after every checkpoint, and the index lists every validation run kept, so a gate of ten
    suites rendered the index ten times, each a little slower as history grows. Built once per
    gate, the pages are the same (each run's page plus its suite's page, then the index).
    The build runs even when a suite failed, so the failure's Data Docs page exists.

    Loading the file context (its YAML, stores and data sources) cost about as much as
    validating a small partition, so the block loads it once: the first checkpoint takes the
    context's file lock and the block keeps it until the pages are built. No other process
    can edit the context in between, so the cached one never goes stale; a parallel gate
    (PostgreSQL runs tasks side by side) waits for this one's few seconds instead.
    """
    if _GATE.get() is not None:  # already inside a block: that block builds
        yield
        return
    from tasks.applicability import remembered_lookups  # imports the scorer catalogue: not at module load

    gate = _Gate()
    token = _GATE.set(gate)
    with gate.locks:
        try:
            with remembered_lookups():  # the suites' skip checks ask about the same raw tables
                yield
        finally:
            _GATE.reset(token)
            if gate.pending:
                _build_data_docs(gate.pending, gate.context)


@contextmanager
def _locked_context() -> Iterator[FileDataContext]:
    """The file context under its lock: the gate's (locked and loaded once), else a fresh one."""
    root = get_settings().gx_root
    gate = _GATE.get()
    if gate is None:
        with _gx_lock(root):
            yield _context(root)
        return
    if gate.context is None:
        gate.locks.enter_context(_gx_lock(root))
        gate.context = _context(root)
    yield gate.context


def _build_data_docs(resource_identifiers: list[Any], context: FileDataContext | None = None) -> Path | None:
    """Render the given validation results and suites and the index, then make them open offline.

    ``context``: the gate's, already loaded under the lock the caller holds."""
    root = get_settings().gx_root
    with ExitStack() as stack:
        if context is None:
            stack.enter_context(_gx_lock(root))
            context = _context(root)
        built_after = time.time()
        context.build_data_docs(resource_identifiers=resource_identifiers)
        docs = _docs_index(context)
        _open_offline(docs, built_after)
        _archive_old_results(root, DOCS_INDEX_RUNS)
    return docs


def _archive_old_results(root: Path, keep: int) -> int:
    """Move all but the ``keep`` newest validation results out of GX's store; returns how many.

    Why: GX lists its whole validation store several times per gate (~0.4 s per listing at 4,500
    results), so a bounded index alone still left each gate slower the longer the project ran.
    The results move to ``uncommitted/validations_archive/`` with the same layout (nothing is
    deleted; their Data Docs pages stay where they are). Done once the store holds a fifth more
    than ``keep``, so most gates only count files. ``keep`` <= 0 keeps everything.
    """
    store = root / "gx" / "uncommitted" / "validations"
    results = list(store.glob("*/*/*/*.json"))  # suite / run name / run time / batch.json
    if keep <= 0 or len(results) <= keep + keep // 5:
        return 0
    results.sort(key=lambda path: path.parts[-2])  # GX's run-time folders sort chronologically
    archive = store.parent / "validations_archive"
    old = results[: len(results) - keep]
    for path in old:
        target = archive / path.relative_to(store)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        for folder in (path.parent, path.parent.parent):  # the run-time and run-name folders, once empty
            with contextlib.suppress(OSError):
                folder.rmdir()
    log.info("moved %d validation results older than the newest %d to %s", len(old), keep, archive)
    return len(old)


def _open_offline(docs: Path | None, built_after: float) -> None:
    """Point the pages built since ``built_after`` at the site's own copies of GX's CDN files."""
    from tasks.quality.data_docs_assets import localize_site

    if docs is None:
        return
    try:
        localize_site(docs.parent, modified_since=built_after)
    except OSError as exc:  # the docs' looks must not decide a data gate
        log.warning("Data Docs keep their CDN links: %s", exc)


#: GX's validation store keeps this many of the newest results (older ones move to
#: ``validations_archive/``, ``_archive_old_results``) and the Data Docs index lists as many
#: (GX's ``validation_results_limit``); every run's page stays on disk. Why: the index is
#: rendered from every result kept, each read and parsed, and the store is listed several
#: times per gate, so without a bound each gate cost more the longer the project had run
#: (~270 results a day with the hourly DAG; 500 is about two days of them).
DOCS_INDEX_RUNS = 500


def _context(root: Path) -> FileDataContext:
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(root))
    if _bound_docs_index(context):
        context = gx.get_context(mode="file", project_root_dir=str(root))  # site builders from the saved config
    _strip_config_variables_comments(root)
    return context


def _bound_docs_index(context: FileDataContext) -> bool:
    """Give every Data Docs site's index ``DOCS_INDEX_RUNS`` once; True when the config changed."""
    sites = dict(context.variables.data_docs_sites or {})
    changed = False
    for site in sites.values():
        index = site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
        if index.get("validation_results_limit") != DOCS_INDEX_RUNS:
            index["validation_results_limit"] = DOCS_INDEX_RUNS
            changed = True
    if changed:
        context.variables.data_docs_sites = sites
        context.variables.save()
    return changed


def _strip_config_variables_comments(root: Path) -> None:
    """Drop the comment header GX scaffolds into ``uncommitted/config_variables.yml``.

    GX re-reads that file for every config value it substitutes, ~300 times per gate, and
    parsing its 30-line comment took ~10 % of a gate. Only a file of plain ``key: value`` lines
    (GX writes ``instance_id`` there; ecomflow keeps no variables in it, secrets come from the
    environment) is rewritten, with the same lines minus comments and blanks; anything else is left.
    """
    path = root / "gx" / "uncommitted" / "config_variables.yml"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return
    kept = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if len(kept) < len(lines) and all(re.fullmatch(r"[A-Za-z_][\w-]*: [^|>#'\"]*", line) for line in kept):
        path.write_text("".join(f"{line}\n" for line in kept))


def _read_partition(spec: SuiteSpec, partition: dict[str, Any]) -> pd.DataFrame | None:
    """The partition's rows, or None when the table does not exist (one open of the warehouse)."""
    where, params = partition_where(partition)
    with connect() as conn:
        if table_columns(conn, spec.table) is None:
            return None
        result = conn.execute(sa.text(f"SELECT * FROM {qualified(spec.table)} WHERE {where}"), params)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    # Drivers hand back Python objects; let pandas pick real dtypes so numeric/time
    # expectations compare numbers and timestamps, not strings.
    frame = frame.infer_objects()
    for col in frame.columns:
        if frame[col].dtype == object and frame[col].map(lambda v: isinstance(v, datetime)).any():
            frame[col] = pd.to_datetime(frame[col])
    for name, expression in spec.computed_columns.items():
        frame[name] = frame.eval(expression) if not frame.empty else pd.Series(dtype="float64")
    return frame


def _describe(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (date, datetime, pd.Timestamp)):
        return value.isoformat()
    return repr(value)


def _failure(expectation_result: Any) -> ExpectationFailure:
    config = expectation_result.expectation_config
    kwargs = dict(config.kwargs)
    column = kwargs.get("column") or (
        f"{kwargs['column_A']}/{kwargs['column_B']}" if "column_A" in kwargs else None
    ) or (",".join(kwargs["column_list"]) if "column_list" in kwargs else None)
    result = expectation_result.result or {}
    parts = []
    if "observed_value" in result:
        parts.append(f"observed {_describe(result['observed_value'])}")
    if result.get("unexpected_count"):
        pct = result.get("unexpected_percent")
        parts.append(f"{result['unexpected_count']} unexpected"
                     + (f" ({pct:.2f}%)" if isinstance(pct, (int, float)) else ""))
    samples = result.get("partial_unexpected_list") or []
    if samples:
        parts.append("e.g. " + ", ".join(_describe(v) for v in samples[:MAX_SAMPLES]))
    exception = (expectation_result.exception_info or {}).get("exception_message")
    if exception:
        parts.append(f"error: {exception}")
    expected = {k: v for k, v in kwargs.items()
                if k not in ("column", "column_A", "column_B", "column_list", "batch_id")}
    if expected:
        parts.append(f"expected {expected}")
    return ExpectationFailure(config.type, column, "; ".join(parts) or "failed")


def _docs_index(context: FileDataContext) -> Path | None:
    for site in context.get_docs_sites_urls(only_if_exists=False):  # also before the first build
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            return Path(url.removeprefix("file://"))
    return None


def _default_run_name(partition: dict[str, Any]) -> str:
    """``dt=2026-01-02 hr=10``: the suite's own partition, for runs not started by a DAG.

    GX keeps run names in file paths (no ``/``) and links (a ``:`` before the first ``/``
    would read as a URL scheme), so timestamps are written without either.
    """
    def text(value: Any) -> str:
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%dT%H" if value.minute == value.second == 0 else "%Y-%m-%dT%H%M%S")
        if isinstance(value, date):
            return value.isoformat()
        return "null" if value is None else str(value)

    return " ".join(f"{k}={text(v)}" for k, v in partition.items()) or "whole table"


def _run_checkpoint(
    spec: SuiteSpec, frame: pd.DataFrame, run_name: str
) -> tuple[bool, int, list[ExpectationFailure], Path | None]:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    gate = _GATE.get()
    actions = [] if gate is not None else [UpdateDataDocsAction(name="update_data_docs")]
    with _locked_context() as context:
        batch_definition = _whole_frame_batch_definition(context, spec.suite)
        # All expectations in the constructor, saved by one add_or_update: adding them one by one
        # to a suite the store already holds writes the suite's file once per expectation.
        suite = gx.ExpectationSuite(name=spec.suite, meta={"table": spec.table, "source": str(spec.path)},
                                    expectations=[build_expectation(e) for e in spec.expectations])
        suite = context.suites.add_or_update(suite)

        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"{spec.suite}__validation", data=batch_definition, suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{spec.suite}__checkpoint",
                validation_definitions=[validation],
                actions=actions,
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_SAMPLES},
            )
        )
        built_after = time.time()
        result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_name))
        if gate is None:
            docs = _docs_index(context)
            _open_offline(docs, built_after)
        else:  # one_data_docs_build renders the pages when the block ends
            # the site's address does not change within a gate; looking it up builds every site builder
            docs = gate.docs = gate.docs or _docs_index(context)
            gate.pending.extend(result.run_results)
            gate.pending.append(ExpectationSuiteIdentifier(name=spec.suite))

    failures: list[ExpectationFailure] = []
    evaluated = 0
    for validation_result in result.run_results.values():
        for expectation_result in validation_result.results:
            evaluated += 1
            if not expectation_result.success:
                failures.append(_failure(expectation_result))
    return bool(result.success), evaluated, failures, docs


def _whole_frame_batch_definition(context: FileDataContext, asset_name: str) -> Any:
    """The suite's dataframe asset and its one batch definition, made on first use.

    They hold no settings from the suite's YAML (the frame arrives with each run), so an
    existing pair is reused as it is; deleting and re-adding them cost three store writes per suite.
    """
    try:
        datasource = context.data_sources.get(DATASOURCE_NAME)
    except (KeyError, ValueError, LookupError):
        datasource = context.data_sources.add_pandas(name=DATASOURCE_NAME)
    if asset_name in datasource.get_asset_names():
        asset = datasource.get_asset(asset_name)
        try:
            return asset.get_batch_definition(BATCH_DEFINITION_NAME)
        except (KeyError, ValueError, LookupError):
            datasource.delete_asset(asset_name)  # left by an older layout: make it anew
    return datasource.add_dataframe_asset(name=asset_name).add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)


def run_suite(
    suite_name: str,
    partition_values: dict[str, Any] | None = None,
    *,
    expectations_dir: Path = EXPECTATIONS_DIR,
    run_name: str | None = None,
) -> SuiteResult:
    """Validate one partition of the suite's table; raise DataQualityError if it fails.

    ``partition_values`` maps the suite's partition columns to values, e.g.
    ``{"dt": date(2026, 1, 2), "hr": 5}``; a value of None means ``IS NULL`` (daily rows of a
    table that also holds hourly ones); omitting a column (or passing None for the dict)
    validates all its values, e.g. a whole day of an hourly table.

    ``run_name`` names the checkpoint run in Data Docs (a DAG passes its id and partition,
    see ``pipeline_checks.data_docs_run_name``); by default the suite's partition,
    e.g. ``dt=2026-01-02 hr=10``. GX adds the run time, so re-runs stay apart.
    """
    spec = load_suite_spec(suite_name, expectations_dir)
    partition = spec.check_partition(partition_values)
    where = ", ".join(f"{k}={v}" for k, v in partition.items()) or "whole table"

    frame = _read_partition(spec, partition)
    if frame is None:
        result = SuiteResult(spec.suite, spec.table, partition, success=False, n_rows=0, empty=True)
        raise DataQualityError(
            f"suite {spec.suite!r}: table {spec.table} does not exist (has its producer run?)", result
        )
    if frame.empty:
        result = SuiteResult(spec.suite, spec.table, partition, success=spec.allow_empty, n_rows=0, empty=True)
        if not spec.allow_empty:
            raise DataQualityError(
                f"suite {spec.suite!r}: {spec.table} has no rows for {where} and the suite says "
                f"allow_empty: false ({spec.path.name}); the producer wrote nothing for this partition",
                result,
            )
        log.warning("suite %s: %s has no rows for %s (allowed by allow_empty); nothing validated",
                    spec.suite, spec.table, where)
        return result

    success, evaluated, failures, docs = _run_checkpoint(spec, frame, run_name or _default_run_name(partition))
    result = SuiteResult(spec.suite, spec.table, partition, success, len(frame), evaluated, failures, docs)
    log.info("suite %s on %s (%s): %s, %d rows, %d/%d expectations passed; Data Docs: %s",
             spec.suite, spec.table, where, "PASSED" if success else "FAILED", len(frame),
             evaluated - len(failures), evaluated, docs)
    if not success:
        lines = "\n".join(f"  - {failure}" for failure in failures)
        raise DataQualityError(
            f"suite {spec.suite!r} FAILED on {spec.table} ({where}, {len(frame)} rows): "
            f"{len(failures)} of {evaluated} expectations failed:\n{lines}\nData Docs: {docs}",
            result,
        )
    return result
