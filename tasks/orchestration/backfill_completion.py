"""Mark a DAG's finished backfills complete in Airflow's metadata database, as the scheduler does.

Why: Airflow takes one open backfill per DAG and refuses the next (HTTP 409 "already a running
backfill") until its scheduler marks the last one complete, which it does only on a fixed 30 s
timer (``SchedulerJobRunner._mark_backfills_complete``) that first fires 30 s after the scheduler
starts. A second backfill of a DAG right after the first (the next partition run by hand, the next
test scenario, a re-score) waited up to 30 s for nothing: measured, each scenario of
tests/scenarios/test_scenario_dags.py that followed another on the same stack took 96-101 s, and
65-75 s with this. The REST API has no "complete" call: its cancel endpoint also *pauses* the backfill,
and the scheduler never starts a paused backfill's runs again, so a later *Clear* of one of them
waited forever (seen in tests/e2e/test_scheduler.py). This module applies the scheduler's own rule
(at least one run, none queued or running) to one DAG, with Airflow's ORM, in a process that has
the local stack's environment (``LocalAirflow.complete_finished_backfills`` starts it).
"""

from __future__ import annotations

import sys

COMPLETED_MARK = "backfills marked complete:"  # the line the caller reads (Airflow logs to stdout too)


def complete_finished_backfills(dag_id: str) -> list[int]:
    """Stamp ``completed_at`` on ``dag_id``'s open backfills that have runs and none left to run;
    returns their ids."""
    from airflow.models.backfill import Backfill
    from airflow.models.dagrun import DagRun
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import and_, exists, select

    unfinished = (DagRunState.RUNNING, DagRunState.QUEUED)
    with create_session() as session:
        backfills = list(session.scalars(select(Backfill).where(
            Backfill.dag_id == dag_id,
            Backfill.completed_at.is_(None),
            exists(select(DagRun.id).where(DagRun.backfill_id == Backfill.id)),
            ~exists(select(DagRun.id).where(and_(DagRun.backfill_id == Backfill.id, DagRun.state.in_(unfinished)))),
        )))
        now = timezone.utcnow()
        for backfill in backfills:
            backfill.completed_at = now
        return [b.id for b in backfills]


if __name__ == "__main__":  # python -m tasks.orchestration.backfill_completion DAG_ID
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tasks.orchestration.backfill_completion DAG_ID")
    print(COMPLETED_MARK, *complete_finished_backfills(sys.argv[1]), flush=True)
