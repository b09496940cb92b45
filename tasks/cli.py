"""``ecomflow`` command line: the operational entry points around the DAGs.

- ``ecomflow plan``: which daily partition and hour the demo run uses, from the source's coverage.
- ``ecomflow backfill-ingest --until D``: historical load of every partition before D
  (the same ingestion code the DAG's ``ingest`` task runs, many days per transaction).
- ``ecomflow summary``: where the output tables are, row counts, and one line per model (version,
  main metric, best baseline, verdict; ``tasks/model_summary.py``).
- ``ecomflow map --infer FILE``: a proposed mapping YAML for a data file.
- ``ecomflow check-mapping MAPPING.yml``: validate a mapping and list what will and won't run on it.
- ``ecomflow airflow start|stop|ui|backfill``: the local Airflow services ``make run`` uses
  (``tasks/orchestration/local_airflow.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date, timedelta

from tasks.partitions import Partition, plan_run
from tasks.settings import get_settings

log = logging.getLogger("ecomflow")

def plan() -> dict[str, str]:
    """Pick the demo partitions from the source's coverage, so the run loads everything it has.

    The daily partition is the source's last complete day (``tasks.partitions.plan_run``:
    an hourly entity's last day counts when its data reaches 23:00), the historical load is
    every day before it, and the hourly partition is noon of that day (its earlier hours are
    loaded by ``backfill-ingest --since <day>T00``, as that day's hourly runs would have).
    Airflow 3 runs a manual
    ``dags test X`` for the data interval that *ends* at X, so the logical dates printed
    are the interval ends. The keys are read by scripts/run_pipeline.sh and tests/e2e.
    """
    from tasks.ingest.schema import ENTITIES
    from tasks.ingest.sources import get_source

    source = get_source(get_settings().source)
    spans = {}
    for entity in source.entities():
        try:
            spans[entity] = source.coverage(entity)
        except ValueError:  # an entity without parseable rows has no span
            continue
    if not spans:
        raise SystemExit(f"source {source.name!r} has no rows with a readable time: nothing to plan")
    run = plan_run(spans, {name for name, ent in ENTITIES.items() if ent.hourly})
    return {
        "SOURCE": source.name,
        "HISTORY_START": run.history_start.isoformat(),
        "DAILY_PARTITION": run.daily.label,
        "DAILY_LOGICAL_DATE": run.daily.end.date().isoformat(),
        "HOURLY_PARTITION": run.hourly.label,
        "HOURLY_LOGICAL_TS": run.hourly.end.isoformat(),
    }


def backfill_ingest(until: Partition, since: Partition | None = None, run_id: str = "historical_load") -> list:
    """Ingest every partition in ``[since, until)``.

    Daily bounds (``YYYY-MM-DD``) load daily partitions; hourly bounds (``YYYY-MM-DDTHH``)
    load hourly partitions (hourly entities only), as earlier hourly runs would have.
    ``since`` defaults to the source's first day.
    """
    from tasks.ingest.load import ingest
    from tasks.ingest.load_days import ingest_days
    from tasks.ingest.sources import get_source

    if since is None:
        first = get_source(get_settings().source).coverage()[0].date()
        since = Partition(first, 0 if until.is_hourly else None)
    if since.is_hourly != until.is_hourly:
        raise SystemExit("--since and --until must both be dates or both be YYYY-MM-DDTHH hours")
    results = []
    if until.is_hourly:
        moment = since.start
        while moment < until.start:
            results.extend(ingest(Partition(moment.date(), moment.hour), run_id))
            moment += timedelta(hours=1)
    elif since.dt < until.dt:  # daily partitions in bulk (tasks/ingest/load_days.py)
        results = ingest_days(since.dt, until.dt, run_id)
    n_in = sum(r.rows_in for r in results)
    n_bad = sum(r.rows_quarantined for r in results)
    print(f"historical load [{since.label}, {until.label}): {n_in} rows in, "
          f"{n_in - n_bad} accepted, {n_bad} quarantined")
    return results


def summary() -> str:
    """Human-readable summary of the warehouse after a run."""
    from tasks.warehouse import read_frame, table_exists

    s = get_settings()
    where = str(s.duckdb_path) if s.warehouse == "duckdb" else s.postgres_location
    lines = [f"warehouse: {s.warehouse} ({where})", f"lake: {s.lake_root}", f"artefacts: {s.artefact_root}",
             f"great expectations data docs: {s.gx_root}", "", "serving tables (BI reads these):"]
    from tasks.score.pipeline import SCORERS

    for name in SCORERS:  # every scorer's table: a new model's shows up without editing this
        table = f"serving.{name}"
        if table_exists(table):
            row = read_frame(f"SELECT COUNT(*) AS n, MAX(model_version) AS v FROM serving.{name}").iloc[0]
            lines.append(f"  {table:<34} {int(row['n']):>9} rows  model_version={row['v']}")
        else:
            lines.append(f"  {table:<34} (not written: its model or inputs are missing)")
    if table_exists("audit.load_log"):
        agg = read_frame("SELECT SUM(rows_in) AS i, SUM(rows_accepted) AS a, SUM(rows_quarantined) AS q "
                         "FROM audit.load_log").iloc[0]
        lines += ["", f"ingestion: {int(agg['i'] or 0)} rows in = {int(agg['a'] or 0)} accepted "
                  f"+ {int(agg['q'] or 0)} quarantined (audit.load_log, audit.quarantine)"]
    from tasks.model_summary import model_table

    lines += ["", *model_table()]
    return "\n".join(lines)


def _airflow(args: argparse.Namespace) -> int:
    """``ecomflow airflow ...``: start/stop the local services, print the UI, run a backfill."""
    from tasks.orchestration.local_airflow import LocalAirflow, LocalAirflowError

    local = LocalAirflow.from_env()
    try:
        if args.action == "stop":
            stopped = local.stop()
            # the dbt worker the model tasks share (it would exit by itself after idling)
            from tasks.transform.dbt_runner import dbt_home
            from tasks.transform.dbt_worker import stop_worker

            stop_worker(dbt_home())
            print(f"stopped: {', '.join(stopped)}" if stopped else "local Airflow was not running")
            return 0
        if args.action in ("start", "ui"):
            was = local.running()
            local.start()
            local.unpause()
            if not was:
                print(f"started: airflow {', '.join(local.running())} (logs: {local.run_dir})")
            print(local.login_hint())
            return 0
        if not args.dag_id or not args.first:
            print("usage: ecomflow airflow backfill DAG FIRST [LAST]", file=sys.stderr)
            return 2
        local.backfill(args.dag_id, args.first, args.last or args.first, conf=args.conf)
        return 0
    except LocalAirflowError as exc:
        print(f"airflow {args.action} failed: {exc}", file=sys.stderr)
        return 1


def _json_object(text: str) -> dict:
    """``--conf``: a JSON object, or an argparse error that shows what was wrong."""
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like {{\"rescore\": true}}, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="ecomflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_plan = sub.add_parser("plan", help="print the demo run's partitions")
    p_plan.add_argument("--format", choices=("json", "shell"), default="json")
    p_back = sub.add_parser("backfill-ingest", help="ingest every daily partition before --until")
    p_back.add_argument("--until", required=True, type=Partition.parse, help="YYYY-MM-DD or YYYY-MM-DDTHH")
    p_back.add_argument("--since", type=Partition.parse, help="YYYY-MM-DD or YYYY-MM-DDTHH")
    sub.add_parser("summary", help="print output tables, row counts and model metrics")
    p_map = sub.add_parser("map", help="propose a mapping YAML for a data file (--infer FILE)")
    p_map.add_argument("--infer", required=True, metavar="FILE", help="CSV or Parquet data file to look at")
    p_check = sub.add_parser("check-mapping", help="validate a mapping YAML and list which marts, feature sets "
                             "and models will and won't run with it")
    p_check.add_argument("mapping", help="path to the mapping .yml")
    p_fp = sub.add_parser("fingerprint", help="print row count and content hash of every warehouse table "
                          "(compare before/after a re-run)")
    p_fp.add_argument("--exclude-column", action="append", default=[],
                      help="leave this column out of the hash (e.g. run_id); repeatable")
    p_ev = sub.add_parser("evaluate", help="train every applicable model now and print model vs baselines "
                          "per metric (also written to ml.evaluations)")
    p_ev.add_argument("--label", required=True, help="data set label, e.g. synthetic-S or uci_online_retail")
    p_ev.add_argument("--as-of-date", type=date.fromisoformat, default=None,
                      help="train on data before this date (default: the plan's daily partition end)")
    sub.add_parser("docs", help="build the dbt docs site of the configured warehouse (one offline HTML file) "
                   "and print its path")
    p_rb = sub.add_parser("rollback", help="re-activate the previous champion of a model and re-score "
                          "its latest serving partition")
    p_rb.add_argument("model", help="recommender | session_intent | demand_forecaster | risk")
    p_rb.add_argument("--by", default=None, help="who decided (logged; default: the OS user)")
    p_rep = sub.add_parser("report", help="build the HTML reports of a day from the warehouse (per model: "
                           "training curves, realised metrics, forecast fans, PR/calibration, drift) and "
                           "print the index path")
    p_rep.add_argument("day", nargs="?", type=date.fromisoformat, default=None,
                       help="YYYY-MM-DD (default: the newest day in monitoring.pipeline_runs)")
    p_rep.add_argument("--dag", default="ecomflow_daily", help="the folder the reports go under")
    p_af = sub.add_parser("airflow", help="local Airflow services: start | stop | ui | backfill DAG FIRST LAST")
    p_af.add_argument("action", choices=("start", "stop", "ui", "backfill"))
    p_af.add_argument("dag_id", nargs="?", help="backfill: the DAG")
    p_af.add_argument("first", nargs="?", help="backfill: first logical date (ISO, UTC)")
    p_af.add_argument("last", nargs="?", help="backfill: last logical date (ISO, UTC; default FIRST)")
    p_af.add_argument("--conf", default="{}", type=_json_object,
                      help='backfill: run conf (JSON), e.g. \'{"rescore": true}\' to serve past partitions '
                           "with today's champion")
    args = parser.parse_args(argv)

    if args.command == "plan":
        result = plan()
        if args.format == "shell":
            print("\n".join(f"{k}={v}" for k, v in result.items()))
        else:
            print(json.dumps(result, indent=2))
    elif args.command == "backfill-ingest":
        backfill_ingest(args.until, args.since)
    elif args.command == "summary":
        print(summary())
    elif args.command in ("map", "check-mapping"):
        from tasks.ingest.errors import BadInputError
        from tasks.ingest.mapping_tools import check_mapping, infer_mapping
        from tasks.ingest.sources import MappingError

        try:
            print(infer_mapping(args.infer) if args.command == "map" else check_mapping(args.mapping))
        except (MappingError, BadInputError, FileNotFoundError) as exc:
            print(f"{args.command} failed: {exc}", file=sys.stderr)
            return 1
    elif args.command == "evaluate":
        from tasks.evaluate import evaluate

        print(evaluate(args.label, args.as_of_date))
    elif args.command == "docs":
        from tasks.transform.dbt_runner import generate_docs

        print(generate_docs())
    elif args.command == "rollback":
        from tasks.train.registry import RollbackError
        from tasks.train.retrain import rollback_and_rescore

        try:
            import getpass

            by = args.by or getpass.getuser()
            result = rollback_and_rescore(args.model, by=by)
            if result["rescored"]:
                # BI reads the dbt serving models built on the re-scored tables: rebuild them now,
                # not at the next daily run (the retrain DAG does the same in its serving model tasks).
                from tasks.transform.dbt_runner import build_layer

                build_layer("serving")
                result["serving_rebuilt"] = True
            print(json.dumps(result, indent=2, default=str))
        except (RollbackError, ValueError) as exc:
            print(f"rollback failed: {exc}", file=sys.stderr)
            return 1
    elif args.command == "report":
        from tasks.reporting.build import build_reports, latest_monitored_day

        day = args.day or latest_monitored_day()
        if day is None:
            print("report: no day given and monitoring.pipeline_runs is empty; run the pipeline first "
                  "or pass YYYY-MM-DD", file=sys.stderr)
            return 1
        built = build_reports(day, dag=args.dag)
        print(f"{len(built.pages)} model reports of {args.dag} {day} in {built.seconds:.1f} s: {built.day_index}",
              file=sys.stderr)
        print(built.index)
    elif args.command == "airflow":
        return _airflow(args)
    elif args.command == "fingerprint":
        from tasks.warehouse.fingerprint import fingerprint_warehouse

        for fp in fingerprint_warehouse(exclude_columns=args.exclude_column).values():
            print(f"{fp.table:<44} rows={fp.rows:<9} duplicates={fp.duplicate_rows:<6} sha256={fp.digest[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
