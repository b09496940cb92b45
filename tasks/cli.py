"""``ecomflow`` command line: the operational entry points around the DAGs.

- ``ecomflow plan``: which daily partition and hour the demo run uses, from the source's coverage.
- ``ecomflow backfill-ingest --until D``: historical load of every partition before D
  (the same ingestion code the DAG's ``ingest`` task runs, one partition at a time).
- ``ecomflow summary``: where the output tables are, row counts and model metrics.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import date, timedelta

from tasks.partitions import Partition, daily_range
from tasks.settings import get_settings

log = logging.getLogger("ecomflow")

SERVING_TABLES = ("recommendations", "session_intent", "demand_forecasts", "risk_labels")


def plan() -> dict[str, str]:
    """Pick the demo partitions: the last complete day before the source's last day, then its next hour."""
    from tasks.ingest.sources import get_source

    source = get_source(get_settings().source)
    first, last = source.coverage()
    daily = last.date() - timedelta(days=1)
    if daily <= first.date():
        raise SystemExit(f"source {source.name!r} covers {first} .. {last}: need at least two days of data")
    hourly = Partition(daily + timedelta(days=1), 0)
    return {
        "SOURCE": source.name,
        "HISTORY_START": first.date().isoformat(),
        "DAILY_DATE": daily.isoformat(),
        "HOURLY_TS": hourly.start.isoformat(),
    }


def backfill_ingest(until: date, since: date | None = None, run_id: str = "historical_load") -> list:
    """Ingest every daily partition in ``[since, until)`` (default: from the source's first day)."""
    from tasks.ingest.load import ingest
    from tasks.ingest.sources import get_source

    source = get_source(get_settings().source)
    first = since or source.coverage()[0].date()
    results = []
    if until <= first:
        return results
    for part in daily_range(first, until - timedelta(days=1)):
        results.extend(ingest(part, run_id))
    n_in = sum(r.rows_in for r in results)
    n_bad = sum(r.rows_quarantined for r in results)
    print(f"historical load {first} .. {until - timedelta(days=1)}: {n_in} rows in, "
          f"{n_in - n_bad} accepted, {n_bad} quarantined")
    return results


def summary() -> str:
    """Human-readable summary of the warehouse after a run."""
    from tasks.warehouse import read_frame, table_exists

    s = get_settings()
    where = str(s.duckdb_path) if s.warehouse == "duckdb" else s.postgres_url.split("@")[-1]
    lines = [f"warehouse: {s.warehouse} ({where})", f"lake: {s.lake_root}", f"artefacts: {s.artefact_root}",
             f"great expectations data docs: {s.gx_root}", "", "serving tables (BI reads these):"]
    for name in SERVING_TABLES:
        table = f"serving.{name}"
        if table_exists(table):
            row = read_frame(f"SELECT COUNT(*) AS n, MAX(model_version) AS v FROM serving.{name}").iloc[0]
            lines.append(f"  {table:<28} {int(row['n']):>9} rows  model_version={row['v']}")
        else:
            lines.append(f"  {table:<28} (missing)")
    if table_exists("audit.load_log"):
        agg = read_frame("SELECT SUM(rows_in) AS i, SUM(rows_accepted) AS a, SUM(rows_quarantined) AS q "
                         "FROM audit.load_log").iloc[0]
        lines += ["", f"ingestion: {int(agg['i'] or 0)} rows in = {int(agg['a'] or 0)} accepted "
                  f"+ {int(agg['q'] or 0)} quarantined (audit.load_log, audit.quarantine)"]
    if table_exists("ml.model_registry"):
        reg = read_frame("SELECT model, version, status, metrics, baseline_metrics FROM ml.model_registry "
                         "WHERE status = 'champion' ORDER BY model")
        lines += ["", "champion models (metric vs baseline on the time-based holdout):"]
        for _, r in reg.iterrows():
            lines.append(f"  {r['model']:<18} {r['version']:<40} model={_fmt(r['metrics'])}  "
                         f"baseline={_fmt(r['baseline_metrics'])}")
    return "\n".join(lines)


def _fmt(metrics: object) -> str:
    try:
        data = json.loads(metrics) if isinstance(metrics, str) else (metrics or {})
    except ValueError:
        return str(metrics)
    return ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in data.items())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="ecomflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_plan = sub.add_parser("plan", help="print the demo run's partitions")
    p_plan.add_argument("--format", choices=("json", "shell"), default="json")
    p_back = sub.add_parser("backfill-ingest", help="ingest every daily partition before --until")
    p_back.add_argument("--until", required=True, type=date.fromisoformat)
    p_back.add_argument("--since", type=date.fromisoformat)
    sub.add_parser("summary", help="print output tables, row counts and model metrics")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
