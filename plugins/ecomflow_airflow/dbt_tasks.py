"""dbt models as Airflow tasks: one retryable task per model (the model and its tests).

An equal of astronomer-cosmos's ``DbtTaskGroup`` for this project, written here rather than
adding cosmos because the tasks must keep the project's own semantics, which cosmos would need
subclassing for anyway: the run's ``as_of_date`` var, failed dbt tests failing without retries
(``fail_fast``), one dbt at a time on the DuckDB file (``warehouse_lock``), output streamed into
the task log and ``on_kill`` stopping dbt (``run_dbt``), skipping while the marts do not exist.
The graph comes from ``tasks.transform.dbt_graph`` (derived from dbt's manifest, a small JSON
file read at parse time), so nothing about dbt is imported when a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import TaskGroup

from ecomflow_airflow.operators import DbtBuildOperator

if TYPE_CHECKING:

    from tasks.transform.dbt_graph import DbtModelNode


class DbtModelOperator(DbtBuildOperator):
    """``dbt build`` one model and its tests (a failing test fails the task, without retries).

    Single-model tests come with ``--indirect-selection cautious``; tests on several models that
    the graph assigns to this model are named in ``tests`` (their other parents' tasks run first).
    """

    indirect_selection = "cautious"
    warm = True  # a model's task does not pay dbt's ~3 s start-up

    def __init__(self, *, model: str, tests: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(select=[model, *tests], **kwargs)
        self.model = model
        self.tests = list(tests)
        self.doc_md = (f"`dbt build --select {model}` and its tests"
                       + (f", plus {', '.join(self.tests)}" if self.tests else "")
                       + ". A failed test fails the task without retries; fix the data or the model, then *Clear*.")

    def on_kill(self) -> None:
        """Stop dbt: the worker's child running this model (or a fallback dbt process)."""
        from tasks.transform.dbt_worker import terminate_children

        super().on_kill()
        stopped = terminate_children()
        self.log.warning("task killed: stopped %d dbt worker child(ren)", stopped)


@dataclass
class DbtModelTasks:
    """The tasks made by ``dbt_model_tasks``, for wiring: ``roots`` wait for nothing in the graph,
    ``leaves`` have nothing after them in it."""

    tasks: dict[str, DbtModelOperator]
    roots: list[DbtModelOperator]
    leaves: list[DbtModelOperator]


def dbt_model_tasks(layers: Sequence[str], *, nest: bool = True, root_trigger_rule: str | None = None,
                    reading: Sequence[str] | None = None, **operator_kwargs: Any) -> DbtModelTasks:
    """One ``DbtModelOperator`` per model of ``layers``, in the current task group.

    ``nest``: a nested TaskGroup per layer (``dbt.staging.stg_raw__users``); otherwise the tasks
    sit in the current group (``serving.daily_kpis``). Edges follow the manifest's refs (and
    multi-model tests); models of other layers count as built already (by an earlier group/DAG).
    ``root_trigger_rule`` overrides the trigger rule of the roots only (e.g. ``all_done`` after
    retraining); ``reading``: keep only the models that read one of these tables (``schema.table``
    of a dbt source), directly or through another kept model; other kwargs go to every operator.
    """
    from tasks.transform.dbt_graph import models_in
    from tasks.transform.dbt_graph import reading as models_reading

    nodes: list[DbtModelNode] = models_in(list(layers))
    if reading is not None:
        nodes = models_reading(nodes, frozenset(reading))
    groups = {layer: TaskGroup(layer, tooltip=f"dbt {layer} models, each with its tests")
              for layer in dict.fromkeys(n.layer for n in nodes)} if nest else {}
    tasks: dict[str, DbtModelOperator] = {}
    for node in nodes:
        upstream = [name for name in node.upstream if name in tasks]
        kwargs = dict(operator_kwargs)
        if not upstream and root_trigger_rule:
            kwargs["trigger_rule"] = root_trigger_rule
        task = DbtModelOperator(task_id=node.name, model=node.name, tests=node.tests,
                                task_group=groups.get(node.layer), **kwargs)
        for name in upstream:
            tasks[name] >> task
        tasks[node.name] = task
    roots = [t for t in tasks.values() if not t.upstream_task_ids & {x.task_id for x in tasks.values()}]
    has_downstream = {u for t in tasks.values() for u in t.upstream_task_ids}
    leaves = [t for t in tasks.values() if t.task_id not in has_downstream]
    return DbtModelTasks(tasks=tasks, roots=roots, leaves=leaves)
