"""The operational tables: each ``audit.*``, ``ml.*`` and ``monitoring.*`` table (and
``features.user_segments``) declared once.

These tables are not data products: they record what the pipeline did (loads and quarantined
rows, model versions and promotion decisions, which version served a partition, task runs,
realised metrics, drift). Their columns used to be typed in each writer (``LOAD_LOG_COLUMNS``
in ``tasks/ingest/load.py``, ``REGISTRY_TYPES`` in ``tasks/train/registry.py``, ``SCHEMAS`` in
``tasks/monitoring/tables.py`` ...) and listed again by hand in docs/CONTRACTS.md,
docs/bad_input.md and docs/monitoring.md. This module is now the one declaration: columns in the
order the writers create them, SQL types, nullability, grain (``key``), the partition a write
replaces, allowed values and descriptions. The writers read their ``{column: SQL type}`` maps
from here (``OperationsTable.sql_types``), and ``python -m tasks.contracts.generate`` writes
``docs/operations_schema.md`` (``operations_schema_doc``);
``tests/test_operations_contracts_declared_once.py`` creates every table through its real
writer on DuckDB and PostgreSQL and fails when the warehouse differs from this declaration.

What is *not* enforced by the warehouse: the tables are created without ``NOT NULL``
constraints (they always were; adding them would change existing warehouses), so
``nullable=False`` is the writers' promise, documented here and checked by the test on the
rows the real writers produce. No dbt source or GX suite reads these tables today.

Types use the raw schema's vocabulary (``string``, ``int``, ``float``, ``timestamp``, ``date``)
with the serving tables' SQL spelling; ``sql`` overrides it where a table has always used
another type (``hr`` is ``INTEGER`` in ``audit.*``, as in ``raw.*``, and ``BIGINT`` elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tasks.contracts.columns import ColumnLookup, column_factory
from tasks.score.schema import ServingColumn

# SQL types a column may override its declared type's default with (``OperationsColumn.sql``).
_OVERRIDES = {"int": ("INTEGER",)}


@dataclass(frozen=True)
class OperationsColumn(ServingColumn):
    """A serving column (value rules, ``why``) whose SQL type may be overridden.

    ``sql``: the SQL type when it is not the vocabulary's default (``INTEGER`` rather than
    ``BIGINT``), so the declaration states exactly what the writers have always created.
    """

    sql: str = ""
    # The writers use pandas' nullable Int64, so a nullable int column is fine.
    written_by_pandas: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sql and self.sql not in _OVERRIDES.get(self.type, ()):
            raise ValueError(f"column {self.name!r}: SQL type {self.sql!r} does not fit type {self.type!r}")

    @property
    def sql_type(self) -> str:
        return self.sql or super().sql_type


@dataclass(frozen=True)
class OperationsTable(ColumnLookup[OperationsColumn]):
    """One operational table (``column_names``, ``required``, ``column(name)``: ``ColumnLookup``).

    ``key``: the grain (``description`` starts "One row per ..."); a NULL in a key column is a
    value of its own (``hr`` NULL: a daily partition). ``partition``: the columns every write
    replaces rows by (``replace_partition``), so a re-run never appends. ``written_by``: the
    code that creates and writes it.
    """

    schema: str
    name: str
    description: str
    key: tuple[str, ...]
    partition: tuple[str, ...]
    written_by: str
    columns: tuple[OperationsColumn, ...]
    key_why: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def all_columns(self) -> tuple[OperationsColumn, ...]:
        return self.columns

    @property
    def _column_owner(self) -> str:
        return self.qualified

    @property
    def sql_types(self) -> dict[str, str]:
        """``{column: SQL type}`` in write order: what the writer creates the table with."""
        return {c.name: c.sql_type for c in self.columns}


_c = column_factory(OperationsColumn)

# Value lists. The registry, pipeline_runs and reference_profile read theirs from here; the
# others are literals in the writing code, which the test reads back.
LOAD_STATUSES = ("loaded", "rejected_threshold", "unpartitioned")   # tasks/ingest/load.py
REGISTRY_STATUSES = ("champion", "challenger", "retired")            # tasks.train.registry.STATUSES
DECISIONS = ("promoted", "kept_champion", "rejected_sanity", "rejected_baseline", "rolled_back", "rescored",
             "retrain_requested")  # tasks/train/registry.py, retrain.py; tasks.monitoring.actions
RUN_STATUSES = ("success", "skipped", "failed")                      # tasks.monitoring.pipeline_runs.STATUSES
COLUMN_KINDS = ("numeric", "categorical")                            # tasks/monitoring/reference_profile.py
PROFILE_KINDS = ("input", "output")                                  # tasks.monitoring.reference_profile.KINDS

_SOURCE = _c("source", "string", False, "The source name (`source_name` of a mapping).")
_ENTITY = _c("entity", "string", False, "Canonical entity (raw table).")
_AUDIT_HR = _c("hr", "int", True, "Partition hour for hourly entities; null for daily loads.", sql="INTEGER")
_RUN_ID = _c("run_id", "string", False, "The Airflow run (or CLI run id) that wrote the row.")
_MODEL = _c("model", "string", False, "Model name (`tasks/train` recipe).")
_VERSION = _c("version", "string", False, "Registry version (`<model>-<as_of_date>-<hash8>`).")
_MODEL_VERSION = _c("model_version", "string", False, "Registry version the row is about (ml.model_registry).")
_DT = _c("dt", "date", False, "The monitoring partition (the Airflow run's day).")


def _drift(output: bool) -> OperationsTable:
    what = "output" if output else "input"
    return OperationsTable(
        schema="monitoring", name="prediction_drift" if output else "feature_drift",
        description=f"One row per (dt, model, model_version, {what} column): how far the day's "
                    f"{'served outputs' if output else 'inputs'} drifted from the version's {what} reference.",
        key=("dt", "model", "model_version", "column_name"), partition=("dt", "model"),
        written_by=f"`tasks/monitoring/drift.py` (`{'prediction' if output else 'feature'}_drift`, run_monitoring)",
        columns=(
            _DT, _MODEL, _MODEL_VERSION,
            _c("source_table", "string", False, "Where the current values were read."),
            _c("column_name", "string", False, f"The {what} column."),
            _c("column_kind", "string", False, allowed_values=COLUMN_KINDS),
            _c("psi", "float", True, "Population stability index over the reference bins (null: undefined)."),
            _c("js_distance", "float", True, "Jensen-Shannon distance (base 2, 0..1).", min_value=0, max_value=1),
            _c("null_share", "float", True, "Share of null values today.", min_value=0, max_value=1),
            _c("reference_null_share", "float", True, "Share of null values in the reference.",
               min_value=0, max_value=1),
            _c("unseen_share", "float", True, "Categorical: share of values the reference never had.",
               min_value=0, max_value=1),
            _c("n_rows", "int", False, "Rows today.", min_value=0),
            _c("reference_rows", "int", False, "Rows of the reference.", min_value=0),
        ),
    )


OPERATIONS_TABLES: dict[str, OperationsTable] = {
    t.qualified: t
    for t in (
        OperationsTable(
            schema="audit", name="quarantine",
            description="One row per rejected source row: why it was rejected and the row as received "
                        "(docs/bad_input.md).",
            key=(), key_why="no natural key: generated and Parquet rows have no file line; the partition "
                            "(source, entity, dt, hr) is replaced as a whole",
            partition=("source", "entity", "dt", "hr"),
            written_by="`tasks/ingest/load.py` (`ensure_raw_tables` creates it; `_write_audit`, "
                       "`quarantine_unparseable`), `tasks/ingest/load_days.py`",
            columns=(
                _SOURCE, _ENTITY,
                _c("dt", "date", True, "The partition; null: the row's time did not parse."),
                _c("hr", "int", True, "The row's hour for hourly entities when known.", sql="INTEGER"),
                _c("source_file", "string", True, "The data file (absolute path); null for generated data."),
                _c("source_row", "int", True, "1-based data row (header not counted).", min_value=1),
                _c("source_line", "int", True, "1-based line where the row starts, header counted (null for "
                   "Parquet and generated data).", min_value=1),
                _c("reason", "string", False, "Every problem of the row, `; `-separated, each starting with the "
                   "column (the value quoted)."),
                _c("payload", "string", False, "The row as received, as JSON text (clear PII replaced by its "
                   "keyed hash)."),
                _RUN_ID,
            ),
        ),
        OperationsTable(
            schema="audit", name="load_log",
            description="One row per loaded (source, entity, partition): the reconciliation rows_in = "
                        "rows_accepted + rows_quarantined.",
            key=("source", "entity", "dt", "hr"), partition=("source", "entity", "dt", "hr"),
            written_by="`tasks/ingest/load.py` (`ensure_raw_tables` creates it; `_write_audit`, "
                       "`quarantine_unparseable`), `tasks/ingest/load_days.py`",
            columns=(
                _RUN_ID, _SOURCE, _ENTITY,
                _c("dt", "date", True, "The partition; null: rows whose time did not parse."),
                _AUDIT_HR,
                _c("rows_in", "int", False, "Rows received.", min_value=0),
                _c("rows_accepted", "int", False, "Rows that passed validation.", min_value=0),
                _c("rows_quarantined", "int", False, "Rows written to audit.quarantine.", min_value=0),
                _c("status", "string", False, "`rejected_threshold`: above the quarantine limit, nothing of "
                   "the partition published; `unpartitioned`: rows without a parseable time.",
                   allowed_values=LOAD_STATUSES),
            ),
        ),
        OperationsTable(
            schema="ml", name="model_registry",
            description="One row per registered model version; scoring finds models here, never by path "
                        "(docs/CONTRACTS.md).",
            key=("model", "version"), partition=("model",),
            written_by="`tasks/train/registry.py` (`register`, `rollback`: one model's rows rewritten together)",
            columns=(
                _MODEL, _VERSION,
                _c("artefact_uri", "string", False, "`<artefact_root>/<model>/<version>/` (model.pt, config.json, "
                   "metrics.json)."),
                _c("config", "string", False, "The training config (JSON)."),
                _c("data_start", "timestamp", False, "Start of the training data window."),
                _c("data_end", "timestamp", False, "End of the training data window (exclusive)."),
                _c("seed", "int", False),
                _c("metrics", "string", False, "Holdout metrics (JSON; an unavailable metric is null, never 0)."),
                _c("baseline_metrics", "string", False, "JSON `{baseline: {metric: value}}` on the same holdout."),
                _c("status", "string", False, allowed_values=REGISTRY_STATUSES),
                _c("trained_at", "timestamp", False, "When the version was registered (UTC)."),
                _c("promoted_at", "timestamp", True, "When it last became champion; null: never."),
                _c("promoted_by", "string", True, "`auto:<run_id>` or `rollback:<who>`; null: never promoted."),
                _c("data_fingerprint", "string", True, "Content fingerprint of the training inputs "
                   "(`tasks/train/fingerprints.py`); null: registered before fingerprints were recorded."),
                _c("code_fingerprint", "string", True, "Fingerprint of the training code; null as above."),
            ),
        ),
        OperationsTable(
            schema="ml", name="evaluations",
            description="One row per (model, version, as_of_date, metric, baseline): a metric on the holdout "
                        "next to the same metric of a baseline or of the previous champion.",
            key=("model", "version", "as_of_date", "dataset", "metric", "baseline"),
            key_why="baseline is null when the model has no baseline (one row per metric)",
            partition=("model", "version", "as_of_date", "dataset"),
            written_by="`tasks/train/registry.py` (`write_evaluations`, in `register`'s transaction; "
                       "`ecomflow evaluate`)",
            columns=(
                _MODEL, _VERSION,
                _c("as_of_date", "date", False, "The training run's as-of date."),
                _c("dataset", "string", False, "`holdout` for DAG training, the data set label for "
                   "`ecomflow evaluate`."),
                _c("metric", "string", False),
                _c("value", "float", True, "The version's value; null: could not be computed."),
                _c("baseline", "string", True, "Baseline name, or `champion:<version>`; null: no baseline."),
                _c("baseline_value", "float", True, "The baseline's value on the same data."),
            ),
        ),
        OperationsTable(
            schema="ml", name="promotion_log",
            description="One row per decision about a model version (promotion, rejection, rollback, "
                        "re-score, retrain request) with its reason.",
            key=("model", "version", "decision", "decided_by"),
            partition=("model", "version", "decision", "decided_by"),
            written_by="`tasks/train/registry.py` (`log_decision`), `tasks/train/retrain.py` (`rescored`), "
                       "`tasks/monitoring/actions.py` (`retrain_requested`, replaced per (decision, decided_by))",
            columns=(
                _MODEL,
                _c("version", "string", False, "The version decided about (empty for a retrain request "
                   "without a served version)."),
                _c("decision", "string", False, allowed_values=DECISIONS),
                _c("reason", "string", False, "Why, in words (`rescored`: every partition and the version that "
                   "served it before)."),
                _c("main_metric", "string", True, "The metric compared; null for a rollback or re-score."),
                _c("value", "float", True, "The version's main metric."),
                _c("champion_version", "string", True, "The champion compared with (or replaced)."),
                _c("champion_value", "float", True, "The champion's main metric on the same holdout."),
                _c("decided_by", "string", False, "`auto:<run_id>`, `rollback:<who>`, `retrain:<run_id>`, "
                   "or the monitoring partition that requested a retrain."),
                _c("decided_at", "timestamp", False, "When (UTC)."),
            ),
        ),
        OperationsTable(
            schema="ml", name="serving_versions",
            description="One row per scored partition (scorer, dt, hr): the version that served it, so a re-run "
                        "reproduces the served rows (point-in-time serving).",
            key=("scorer", "dt", "hr"), partition=("scorer", "dt", "hr"),
            written_by="`tasks/score/serving_versions.py` (`record`, in the serving write's transaction)",
            columns=(
                _c("scorer", "string", False, "The scorer (`tasks/score/pipeline.py` SCORERS)."),
                _MODEL,
                _c("dt", "date", False, "The scored logical partition's day."),
                _c("hr", "int", True, "The scored hour; null for daily scorers."),
                _c("model_version", "string", False, "The registry version, or a rule set's label when no "
                   "model served (`rules-v1`)."),
                _RUN_ID,
                _c("recorded_at", "timestamp", False, "When the row was (re)written (UTC)."),
            ),
        ),
        OperationsTable(
            schema="monitoring", name="pipeline_runs",
            description="One row per (task, dt, hr): rows in/out, quarantined share and duration of a task's "
                        "run; a retry or re-run replaces it.",
            key=("task", "dt", "hr"), partition=("task", "dt", "hr"),
            written_by="`tasks/monitoring/pipeline_runs.py` (`record_task_run`, every `PartitionedOperator`)",
            columns=(
                _c("task", "string", False, "Airflow task id."),
                _c("dt", "date", False, "The run's partition day."),
                _c("hr", "int", True, "The run's hour; null for daily runs."),
                _c("status", "string", False, allowed_values=RUN_STATUSES),
                _c("rows_in", "int", True, "Rows the task read (ingestion: rows received); null: not known.",
                   min_value=0),
                _c("rows_out", "int", True, "Rows the task wrote; null: not known.", min_value=0),
                _c("quarantined", "int", True, "Rows quarantined (ingestion).", min_value=0),
                _c("quarantined_share", "float", True, "quarantined / rows_in; null without rows in.",
                   min_value=0, max_value=1),
                _c("duration_s", "float", False, "Wall time of the task.", min_value=0),
                _c("run_id", "string", True, "The Airflow run; null when run outside Airflow."),
            ),
        ),
        OperationsTable(
            schema="monitoring", name="realised_metrics",
            description="One row per (dt, model, model_version, served partition, metric, horizon_days): a "
                        "served output scored against what happened, on the day its truth window closed.",
            key=("dt", "model", "model_version", "output_table", "output_as_of_date", "metric", "horizon_days"),
            key_why="horizon_days is null except for forecasts",
            partition=("dt", "model"),
            written_by="`tasks/monitoring/realised/__init__.py` (`compute_realised_metrics`, run_monitoring)",
            columns=(
                _DT, _MODEL, _MODEL_VERSION,
                _c("output_table", "string", False, "The serving table judged."),
                _c("output_as_of_date", "date", False, "The served partition that was scored (its day for hourly "
                   "outputs)."),
                _c("metric", "string", False),
                _c("horizon_days", "int", True, "Forecasts: forecast_date - as_of_date; null otherwise."),
                _c("value", "float", False, "The metric (an undefined value is left out, never 0)."),
                _c("n_rows", "int", False, "Rows (users, sessions, series, payments) the value is over.",
                   min_value=0),
                _c("truth_through", "timestamp", False, "The truth window's end: nothing after it was used."),
            ),
        ),
        _drift(output=False),
        _drift(output=True),
        OperationsTable(
            schema="monitoring", name="reference_profiles",
            description="One row per (model, model_version, profile_kind, column, bin or category): the "
                        "reference distribution drift is measured against.",
            key=("model", "model_version", "profile_kind", "column_name", "bin"),
            partition=("model", "model_version", "profile_kind"),
            written_by="`tasks/monitoring/reference_profile.py` (`store_reference_profile`: the training "
                       "recipe for inputs, the first monitoring of a version for outputs)",
            columns=(
                _MODEL, _MODEL_VERSION,
                _c("profile_kind", "string", False, allowed_values=PROFILE_KINDS),
                _c("source_table", "string", False, "Where the reference values were read."),
                _c("column_name", "string", False),
                _c("column_kind", "string", False, allowed_values=COLUMN_KINDS),
                _c("bin", "int", False, "Numeric: bin number; categorical: category order.", min_value=0),
                _c("lower", "float", True, "Numeric bin's lower edge (inclusive; -inf for the first)."),
                _c("upper", "float", True, "Numeric bin's upper edge (exclusive; +inf for the last)."),
                _c("category", "string", True, "Categorical: the category."),
                _c("share", "float", False, "Share of the non-null reference values in this bin/category.",
                   min_value=0, max_value=1),
                _c("null_share", "float", True, "Share of null values of the column.", min_value=0, max_value=1),
                _c("n_rows", "int", False, "Rows of the reference.", min_value=0),
                _c("reference_as_of_date", "date", True, "The partition the profile was computed from."),
            ),
        ),
        OperationsTable(
            schema="features", name="user_segments",
            description="One row per (as_of_date, user_id): the user's K-means segment on that day's "
                        "features.user_profile; ids are stable only within one as_of_date.",
            key=("user_id", "as_of_date", "as_of_hour"), key_why="as_of_hour is always null (daily segments)",
            partition=("as_of_date", "as_of_hour"),
            written_by="`tasks/train/segments.py` (`build_user_segments`, the daily DAG's "
                       "`features.user_segments` task)",
            columns=(
                _c("user_id", "string", False),
                _c("segment", "int", False, "0 = the largest cluster that day.", min_value=0, sql="INTEGER"),
                _c("segment_k", "int", False, "Number of segments that day (k by silhouette).", min_value=1,
                   sql="INTEGER"),
                _c("as_of_date", "date", False, "Partition: the profile day."),
                _c("as_of_hour", "timestamp", True, "Always null (a daily partition)."),
                _RUN_ID,
            ),
        ),
    )
}

SCHEMAS = ("audit", "ml", "monitoring")  # every table of these schemas is declared here


def table(qualified: str) -> OperationsTable:
    """``"<schema>.<name>"`` -> its declaration (a clear error for an undeclared table)."""
    try:
        return OPERATIONS_TABLES[qualified]
    except KeyError:
        raise KeyError(f"{qualified} is not a declared operational table (tasks/contracts/operations_schema.py); "
                       f"known: {sorted(OPERATIONS_TABLES)}") from None


def sql_types(qualified: str) -> dict[str, str]:
    """``{column: SQL type}`` of a declared table, what its writer passes as ``column_types``."""
    return table(qualified).sql_types
