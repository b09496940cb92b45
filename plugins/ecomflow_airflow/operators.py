"""Operators used by the ecomflow DAGs.

Each operator derives its partition from the run's data interval (never the
wall clock), calls one function in ``tasks/``, and returns a small JSON-able
summary to XCom. All heavy imports happen inside ``execute``. Every ``execute`` is wrapped
in ``fail_fast``: failures that cannot change on retry (GX gates, leakage, mapping/schema
errors, bad input) fail the task at once; transient ones keep the DAG's retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ecomflow_airflow.failures import fail_fast

if TYPE_CHECKING:
    from airflow.sdk import Context

    from tasks.partitions import Partition

CADENCES = ("daily", "hourly")


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        from datetime import UTC

        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return datetime(moment.year, moment.month, moment.day, moment.hour)


def _recording_task_run(execute: Any) -> Any:
    """Wrap a ``PartitionedOperator`` subclass's ``execute``: time it and record the outcome
    (success / skipped / failed, counts from its return value) in ``monitoring.pipeline_runs``."""
    import functools

    @functools.wraps(execute)
    def wrapper(self: PartitionedOperator, *args: Any, **kwargs: Any) -> Any:
        import time

        from airflow.sdk.exceptions import AirflowSkipException

        context = kwargs.get("context", args[0] if args else None)
        started, status, result = time.monotonic(), "failed", None
        try:
            result = execute(self, *args, **kwargs)
            status = "success"
            return result
        except AirflowSkipException:
            status = "skipped"
            raise
        finally:
            self.record_task_run(context, status, result, time.monotonic() - started)

    wrapper._records_task_run = True  # type: ignore[attr-defined]
    return wrapper


class PartitionedOperator(BaseOperator):
    """Base: knows whether it works on a daily or an hourly partition.

    Every subclass's ``execute`` is timed and recorded in ``monitoring.pipeline_runs`` (issue 11):
    ``__init_subclass__`` wraps it, so no operator has to remember to.
    """

    ui_color = "#e8f4fd"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        execute = cls.__dict__.get("execute")
        if execute is not None and not getattr(execute, "_records_task_run", False):
            cls.execute = _recording_task_run(execute)  # type: ignore[method-assign]

    def record_task_run(self, context: Context | None, status: str, result: Any, seconds: float) -> None:
        """This task's row of ``monitoring.pipeline_runs``; a failure to write it is logged and
        never fails (or hides the error of) the task itself."""
        try:
            from tasks.monitoring.pipeline_runs import counts_from_result, record_task_run

            if context is None:
                raise ValueError("execute was called without a context")
            rows_in, rows_out, quarantined = counts_from_result(result)
            record_task_run(self.task_id, self.partition(context), rows_in, rows_out, quarantined, seconds,
                            status=status, run_id=self.run_id(context))
        except Exception:  # noqa: BLE001 - monitoring must not change the task's outcome
            self.log.warning("could not record %s in monitoring.pipeline_runs", self.task_id, exc_info=True)

    def __init__(self, *, cadence: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if cadence not in CADENCES:
            raise ValueError(f"cadence must be one of {CADENCES}, got {cadence!r}")
        self.cadence = cadence

    def partition(self, context: Context) -> Partition:
        from tasks.partitions import Partition

        start = context.get("data_interval_start") or context["logical_date"]
        start = _naive_utc(start)
        if self.cadence == "daily":
            return Partition(start.date())
        return Partition(start.date(), start.hour)

    @staticmethod
    def run_id(context: Context) -> str:
        return str(context["run_id"])

    def skip_unless_applicable(self, kind: str, name: str, partition: Partition) -> None:
        """Skip (not fail) a step whose input entities the configured source never loaded."""
        from airflow.sdk.exceptions import AirflowSkipException

        from tasks.applicability import skip_reason

        reason = skip_reason(kind, name, partition.as_of)
        if reason:
            raise AirflowSkipException(reason)


class IngestPartitionOperator(PartitionedOperator):
    """Land and load one partition of every entity the configured source provides.

    ``prepare_dbt_worker`` (default): the run's dbt model tasks come after this one, so it first
    has the warm dbt worker start and parse the project in the background
    (``dbt_runner.prepare_worker``); the first model task then does not wait for it.
    """

    def __init__(self, *, entities: Sequence[str] | None = None, prepare_dbt_worker: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entities = list(entities) if entities else None
        self.prepare_dbt_worker = prepare_dbt_worker

    @fail_fast
    def execute(self, context: Context) -> list[dict]:
        from dataclasses import asdict

        from airflow.sdk.exceptions import AirflowSkipException

        from tasks.ingest.load import ingest

        if self.prepare_dbt_worker:
            from tasks.transform.dbt_runner import prepare_worker

            prepare_worker()
        partition = self.partition(context)
        results = ingest(partition, self.run_id(context), entities=self.entities)
        if not results:
            raise AirflowSkipException(
                f"the configured source provides no {'hourly' if partition.is_hourly else ''} entities "
                f"for {partition.label}; nothing to ingest")
        for r in results:
            self.log.info("%s", asdict(r))
        return [asdict(r) for r in results]


class GXCheckpointOperator(PartitionedOperator):
    """Run Great Expectations suites as checkpoints on this run's partition; fail on any failure.

    ``scope`` chooses the partition columns: ``ingest`` (dt/hr of the landed data),
    ``as_of`` (as_of_date / as_of_hour of features and outputs) or ``table`` (whole table).
    """

    ui_color = "#fdf0e8"

    def __init__(self, *, suites: Sequence[str], scope: str = "ingest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suites = list(suites)
        self.scope = scope

    @fail_fast
    def execute(self, context: Context) -> list[dict]:
        from tasks.quality.pipeline_checks import run_suites_for_partition

        # The DAG id and partition name the checkpoint runs in Data Docs.
        return run_suites_for_partition(self.suites, self.partition(context), self.scope, dag_id=self.dag_id)


class SubprocessKillMixin:
    """``on_kill`` for operators whose work runs in child processes (dbt, spark-submit).

    Airflow calls ``on_kill`` when the task is marked failed/success, cleared or timed out while
    running; without it the dbt or Spark process tree would keep running (and keep the DuckDB
    lock) after the task is gone. Children are started by ``tasks.subprocess_stream``.
    """

    def on_kill(self) -> None:
        from tasks.subprocess_stream import terminate_running

        stopped = terminate_running()
        self.log.warning("task killed: stopped %d child process group(s)", stopped)  # type: ignore[attr-defined]


class DbtBuildOperator(SubprocessKillMixin, BaseOperator):
    """``dbt build`` a selection of the project (models + tests) against the configured warehouse."""

    ui_color = "#fde8ee"
    # buildable: a test that also reads a layer outside the selection waits for that layer's build
    # (the per-model tasks use cautious: each test runs in the task of its last model).
    indirect_selection = "buildable"
    # in the shared warm dbt worker (tasks.transform.dbt_worker) instead of a dbt process
    warm = False

    def __init__(self, *, select: Sequence[str], skip_unless_table: str | None = None, **kwargs: Any) -> None:
        """``skip_unless_table``: skip (with the reason) while that table does not exist yet, e.g. the
        hourly serving rebuild before the first daily run has built the marts it reads."""
        super().__init__(**kwargs)
        self.select = list(select)
        self.skip_unless_table = skip_unless_table

    @fail_fast
    def execute(self, context: Context) -> None:
        import json

        from tasks.transform.dbt_runner import run_dbt

        if self.skip_unless_table:
            from airflow.sdk.exceptions import AirflowSkipException

            from tasks.transform.dbt_runner import warehouse_lock
            from tasks.warehouse import table_exists

            # Under the dbt lock: on DuckDB even this look opens the file, and a sibling model task's
            # dbt run holding it would make the look fail (or the look make that run fail).
            with warehouse_lock():
                missing = not table_exists(self.skip_unless_table)
            if missing:
                raise AirflowSkipException(
                    f"{self.skip_unless_table} does not exist yet (ecomflow_daily builds it): nothing to rebuild")

        # Staging reads only raw partitions before the run's as-of date (macros/as_of_filter.sql), so
        # a re-run or backfill of day D builds the same marts whatever was ingested after D.
        end = context.get("data_interval_end") or context["logical_date"]
        as_of_date = _naive_utc(end).date().isoformat()
        # dbt unit tests (fixed fixture rows) belong to CI (tests/dbt), not to production runs.
        run_dbt(["build", "--select", *self.select, "--indirect-selection", self.indirect_selection,
                 "--exclude-resource-type", "unit_test", "--vars", json.dumps({"as_of_date": as_of_date})],
                warm=self.warm)


class DbtSourceFreshnessOperator(SubprocessKillMixin, BaseOperator):
    """``dbt source freshness``: one log line per source table (newest row, age, warn limit).

    Only warns: old data (replayed or synthetic history) and scoring tables that do not exist
    yet never fail the task; it fails only when dbt cannot check a table that exists.
    """

    ui_color = "#fde8ee"

    @fail_fast
    def execute(self, context: Context) -> list[dict]:
        from tasks.transform.dbt_runner import source_freshness

        end = context.get("data_interval_end") or context.get("logical_date")
        dbt_vars = {"as_of_date": _naive_utc(end).date().isoformat()} if end else None
        return [result.as_dict() for result in source_freshness(dbt_vars, warm=True)]


class SparkFeatureSetsOperator(SubprocessKillMixin, PartitionedOperator):
    """One spark-submit computing every applicable feature set of the run (one JVM per run).

    Sets whose inputs the source never loaded are left out (their publish task skips with the
    reason); when none applies the task skips. Outputs go to the lake; ``PublishFeatureSetOperator``
    tasks then publish each set to ``features.*``.
    """

    ui_color = "#eefde8"

    def __init__(self, *, jobs: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs = list(jobs)

    @fail_fast
    def execute(self, context: Context) -> dict[str, str]:
        from airflow.sdk.exceptions import AirflowSkipException

        from tasks.applicability import skip_reason
        from tasks.features.pipeline import compute_feature_sets

        partition = self.partition(context)
        applicable = []
        for job in self.jobs:
            reason = skip_reason("feature", job, partition.as_of)
            if reason:
                self.log.info("not computing %s: %s", job, reason)
            else:
                applicable.append(job)
        if not applicable:
            raise AirflowSkipException(f"no feature set applies to the source for {partition.label}")
        return compute_feature_sets(applicable, partition)


class PublishFeatureSetOperator(PartitionedOperator):
    """Publish one feature set computed by ``SparkFeatureSetsOperator`` to ``features.<job>``."""

    ui_color = "#eefde8"

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job

    @fail_fast
    def execute(self, context: Context) -> int:
        from tasks.features.pipeline import publish

        partition = self.partition(context)
        self.skip_unless_applicable("feature", self.job, partition)
        return publish(self.job, partition)


class TrainModelOperator(PartitionedOperator):
    """Train a model when it is due (or none exists); registers and maybe promotes it."""

    ui_color = "#f3e8fd"

    def __init__(self, *, model: str, **kwargs: Any) -> None:
        from tasks.settings import get_settings  # env-only, no I/O: cheap at parse time

        kwargs.setdefault("pool", "gpu")
        kwargs.setdefault("queue", get_settings().train_queue)
        super().__init__(cadence="daily", **kwargs)
        self.model = model

    @fail_fast
    def execute(self, context: Context) -> dict:
        from tasks.train.pipeline import train_if_due

        force = bool((context.get("params") or {}).get("force_train", False))
        partition = self.partition(context)
        self.skip_unless_applicable("model", self.model, partition)
        return train_if_due(self.model, partition, self.run_id(context), force=force)


#: The ``rescore`` param of the daily and hourly DAGs (shown in the UI's Trigger form).
RESCORE_HELP = ("Re-score this partition with today's champion instead of the model version that served it "
                "(a plain re-run reproduces the served rows); logged as 'rescored' in ml.promotion_log")


class ScoreOperator(PartitionedOperator):
    """Batch-score with the champion model and replace the serving partition."""

    ui_color = "#fdfde8"

    def __init__(self, *, scorer: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scorer = scorer

    @fail_fast
    def execute(self, context: Context) -> int:
        from airflow.sdk.exceptions import AirflowSkipException

        from tasks.score.common import NoChampionError
        from tasks.score.pipeline import run_scorer

        partition = self.partition(context)
        self.skip_unless_applicable("scorer", self.scorer, partition)
        run_id = self.run_id(context)
        try:
            if (context.get("params") or {}).get("rescore"):
                # Asked for in the Trigger form: today's champion replaces the version that
                # served this partition, and ml.promotion_log says who asked.
                from tasks.train.retrain import rescore_partition

                return int(rescore_partition(self.scorer, partition, run_id, decided_by=f"trigger:{run_id}")["rows"])
            return run_scorer(self.scorer, partition, run_id)
        except NoChampionError as exc:
            # e.g. a source without purchase labels: the model could not be trained.
            raise AirflowSkipException(str(exc)) from exc


class RetrainModelOperator(TrainModelOperator):
    """Train a challenger now (``ecomflow_retrain``); the registry's gate decides promotion.

    The as-of date is the DAG param ``as_of_date`` when given (on-demand runs), else the end
    of the data interval (a weekly run on Monday trains on data up to Monday 00:00).
    """

    @staticmethod
    def requested(context: Context) -> list[dict]:
        """Extras of the monitoring retrain requests that triggered this run (none: not triggered so)."""
        from ecomflow_airflow.assets import RETRAIN_REQUEST_URI

        found: list[dict] = []
        for key, events in (context.get("triggering_asset_events") or {}).items():
            if getattr(key, "uri", key) == RETRAIN_REQUEST_URI:
                found += [dict(getattr(e, "extra", None) or {}) for e in events]
        return found

    @classmethod
    def as_of_date(cls, context: Context) -> Any:
        from datetime import date

        given = (context.get("params") or {}).get("as_of_date")
        if given:
            return date.fromisoformat(str(given))
        requested = [e["as_of_date"] for e in cls.requested(context) if e.get("as_of_date")]
        if requested:  # a monitoring request: data up to the end of the day that breached
            return max(date.fromisoformat(str(d)) for d in requested)
        end = context.get("data_interval_end") or context["logical_date"]
        return _naive_utc(end).date()

    def partition(self, context: Context) -> Partition:
        from tasks.train.retrain import retrain_partition

        return retrain_partition(self.as_of_date(context))

    @fail_fast
    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from tasks.train.retrain import retrain

        wanted = (context.get("params") or {}).get("models") or sorted(
            {m for e in self.requested(context) for m in e.get("models") or []})
        if wanted and self.model not in wanted:
            raise AirflowSkipException(f"{self.model} not in params.models {wanted}")
        self.skip_unless_applicable("model", self.model, self.partition(context))
        return retrain(self.model, self.as_of_date(context), self.run_id(context))


class GrantBIAccessOperator(BaseOperator):
    """Keep the PostgreSQL ``bi_reader`` role able to read ``serving`` and nothing else.

    Idempotent and cheap; runs after the serving tables were (re)built. On DuckDB (an embedded
    file without roles) it only logs.
    """

    ui_color = "#e8fde8"

    @fail_fast
    def execute(self, context: Context) -> bool:
        from tasks.warehouse.access import ensure_bi_reader

        return ensure_bi_reader()


class UserSegmentsOperator(PartitionedOperator):
    """K-means user segments from the day's ``features.user_profile`` -> ``features.user_segments``.

    Used as a feature by the intent and risk models and as the recommender's cold-start
    fallback; skipped when the source has no user activity (no profile to cluster).
    """

    ui_color = "#e8f4fd"

    @fail_fast
    def execute(self, context: Context) -> int:
        from tasks.features.pipeline import run_point_for
        from tasks.train.segments import build_user_segments

        partition = self.partition(context)
        self.skip_unless_applicable("feature", "user_segments", partition)
        return build_user_segments(run_point_for(partition).as_of_date, self.run_id(context))


class ReportOperator(PartitionedOperator):
    """The day's HTML reports (``tasks/reporting``): one page per model and the index, under
    ``$ECOMFLOW_HOME/reports/<dag>/<dt>/``; logs where to open them (file and Airflow UI).

    Its own task after ``monitoring.run``, so a report problem never holds back the alerts and
    retrain requests, and a report can be rebuilt (Clear) alone. Reads only; idempotent.
    """

    ui_color = "#fdf6e8"

    @fail_fast
    def execute(self, context: Context) -> dict:
        from airflow.sdk import conf

        from ecomflow_airflow.reports_app import URL_PREFIX
        from tasks.reporting.build import build_reports

        partition = self.partition(context)
        dag_id = context["ti"].dag_id
        built = build_reports(partition.dt, dag=dag_id)
        relative = built.day_index.relative_to(built.index.parent).as_posix()
        url = f"{conf.get('api', 'base_url', fallback='http://localhost:8080/').rstrip('/')}{URL_PREFIX}/{relative}"
        self.log.info("reports of %s %s (%d models, %.1f s): %s", dag_id, partition.label, len(built.pages),
                      built.seconds, built.day_index)
        self.log.info("open in the Airflow UI: the 'ML reports' button in the side bar, or %s", url)
        for model, page in built.pages.items():
            self.log.info("  %s: %s", model, page)
        return {"index": str(built.index), "day_index": str(built.day_index), "url": url,
                "pages": {m: str(p) for m, p in built.pages.items()}}


class MonitoringOperator(PartitionedOperator):
    """Realised accuracy of earlier outputs whose truth is now known, and input/output drift of
    the day against each model's training reference -> ``monitoring.*`` (issue 11).

    Runs after scoring and the serving build; each part that lacks its inputs (no serving table
    yet, a truth window still open, no payments in the source) is skipped with the reason in
    the log and in the returned summary, never failed.
    """

    ui_color = "#fdf6e8"

    def __init__(self, **kwargs: Any) -> None:
        from ecomflow_airflow.assets import retrain_request_alias

        # The retrain request: an event is added through the alias only when one is requested.
        kwargs.setdefault("outlets", [retrain_request_alias()])
        super().__init__(**kwargs)

    @fail_fast
    def execute(self, context: Context) -> dict:
        from tasks.monitoring.run import run_monitoring

        partition = self.partition(context)
        summary = run_monitoring(partition)
        for part in ("realised_metrics", "feature_drift", "prediction_drift"):
            for model, result in summary.get(part, {}).items():
                self.log.info("%s %s: %s", part, model, result)
        if summary.get("retrain_models"):
            self.request_retrain(context, partition, summary)
        if summary.get("breaches"):
            self.alert(context, partition, summary)
        return summary

    @staticmethod
    def request_retrain(context: Context, partition: Partition, summary: dict) -> None:
        """Add the retrain request event (models, as-of date = the day after the partition, reasons)."""
        from datetime import timedelta

        from ecomflow_airflow.assets import retrain_request_alias, retrain_request_asset

        extra = {"models": list(summary["retrain_models"]), "partition": partition.label,
                 "as_of_date": (partition.dt + timedelta(days=1)).isoformat(),
                 "reasons": dict(summary.get("retrain_reasons") or {})}
        context["outlet_events"][retrain_request_alias()].add(retrain_request_asset(), extra=extra)

    def alert(self, context: Context, partition: Partition, summary: dict) -> None:
        """The breaches through the DAGs' alert channels (off when no alert connection exists).
        A channel that fails fails the task: its retry re-judges and re-sends (idempotent)."""
        from ecomflow_airflow.notifiers import deliver
        from tasks.monitoring.actions import breach_alert
        from tasks.monitoring.thresholds import Breach

        ti = context["ti"]
        alert = breach_alert(partition, [Breach(**b) for b in summary["breaches"]], dag_id=ti.dag_id,
                             run_id=ti.run_id, task_id=ti.task_id, log_url=getattr(ti, "log_url", None),
                             retrain_models=list(summary.get("retrain_models") or []))
        deliver(alert, context)
