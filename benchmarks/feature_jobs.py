"""The daily feature sets on the raw lake's hour files vs on compacted days (same lake, same run).

Builds (or reuses, ``--home``) a synthetic lake with ``ecomflow backfill-ingest``, then computes
the five daily feature sets as of ``--as-of-date`` in one Spark application, as the daily DAG's
``features.compute`` does, alternating two layouts of the same rows:

* ``hours``: the compacted zone hidden, so every hourly entity is read as one file per hour
  (the layout every feature run read before compaction: ~660 event files for a 30-day window);
* ``days``: closed days read from ``lake/compacted`` (one file per day, ``tasks.lake``).

Each layout runs ``--repeats`` times, interleaved, after one warm-up run (JIT); the table shows
the fastest run of each set, so other load on the machine inflates both columns alike. The
outputs of the two layouts are compared (same rows; floats equal up to summation order).

    .venv/bin/python benchmarks/feature_jobs.py [--size S] [--connect] [--repeats 2] [--home DIR]

``--connect`` starts a Spark Connect server (the local stack's setup) and runs as its client;
otherwise an in-process ``local[2]`` session.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _build_lake(until: str) -> None:
    from tasks.cli import backfill_ingest
    from tasks.partitions import Partition

    backfill_ingest(Partition.parse(until))


def _session(connect: bool) -> tuple[object, subprocess.Popen | None]:
    from tasks.features.session import build_spark_session

    if not connect:
        return build_spark_session("bench-features", "local[2]"), None
    from tasks.orchestration.spark_connect import remote_url, server_command

    port = _free_port()
    server = subprocess.Popen(server_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return build_spark_session("bench-features", remote=remote_url(port)), server
        time.sleep(1)
    server.terminate()
    raise SystemExit("Spark Connect server did not start in 180 s")


def _run(spark: object, point: object, out: Path) -> dict[str, float]:
    """Compute every daily set into ``out`` (a copy of the outputs); seconds per set."""
    import shutil

    from tasks.features.catalogue import FEATURE_JOBS
    from tasks.features.run_job import run_feature_job

    seconds = {}
    for name, job in FEATURE_JOBS.items():
        if not job.daily:
            continue
        start = time.perf_counter()
        target = run_feature_job(spark, name, point)
        seconds[name] = time.perf_counter() - start
        shutil.rmtree(out / name, ignore_errors=True)
        shutil.copytree(target, out / name)
    return seconds


def _same_outputs(a: Path, b: Path) -> str:
    import pandas as pd

    from tasks.features.catalogue import FEATURE_JOBS

    notes = []
    for name in sorted(p.name for p in a.iterdir()):
        key = list(FEATURE_JOBS[name].key)
        x = pd.read_parquet(a / name).sort_values(key).reset_index(drop=True)
        y = pd.read_parquet(b / name).sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-12, atol=1e-9, obj=name)
        notes.append(f"{name} {len(x)} rows{'' if x.equals(y) else ' (floats within 1e-12)'}")
    return "; ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", choices=("S", "M", "L"))
    parser.add_argument("--home", type=Path, default=None, help="reuse this ECOMFLOW_HOME's lake")
    parser.add_argument("--as-of-date", default=None, help="default: the plan's daily logical date")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--connect", action="store_true", help="run as a client of a Spark Connect server")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ecomflow-bench-features-"))
    os.environ["ECOMFLOW_HOME"] = str(home)
    os.environ["ECOMFLOW_SYNTHETIC_SIZE"] = args.size
    os.environ.setdefault("ECOMFLOW_PII_KEY", "benchmark-only-key")
    from tasks.cli import plan
    from tasks.features.catalogue import RunPoint
    from tasks.lake import dataset_root

    as_of = args.as_of_date or plan()["DAILY_LOGICAL_DATE"]
    compacted = dataset_root("compacted", "x").parent
    if not compacted.exists():
        start = time.perf_counter()
        _build_lake(as_of)
        print(f"built the {args.size} lake up to {as_of} in {time.perf_counter() - start:.1f} s")
    hidden = compacted.with_name(".compacted-hidden")
    point = RunPoint.parse(as_of)
    spark, server = _session(args.connect)
    best: dict[str, dict[str, float]] = {"hours": {}, "days": {}}
    outputs = Path(tempfile.mkdtemp(prefix="ecomflow-bench-out-"))
    try:
        _run(spark, point, outputs / "warmup")
        for _ in range(args.repeats):
            for layout in ("hours", "days"):
                if layout == "hours":
                    compacted.rename(hidden)
                try:
                    for name, sec in _run(spark, point, outputs / layout).items():
                        best[layout][name] = min(sec, best[layout].get(name, sec))
                finally:
                    if hidden.exists():
                        hidden.rename(compacted)
    finally:
        spark.stop()
        if server is not None:
            server.terminate()
            server.wait(60)
    mode = "Spark Connect client" if args.connect else "local[2] in-process"
    print(f"\nDaily feature sets, synthetic {args.size}, as of {as_of}, {mode}, best of {args.repeats}\n")
    print("| feature set | hour files (s) | compacted days (s) | ratio |")
    print("|---|---:|---:|---:|")
    for name in best["hours"]:
        h, d = best["hours"][name], best["days"][name]
        print(f"| {name} | {h:.1f} | {d:.1f} | {h / d:.1f}x |")
    h, d = sum(best["hours"].values()), sum(best["days"].values())
    print(f"| **all five** | {h:.1f} | {d:.1f} | {h / d:.1f}x |")
    print(f"\noutputs: {_same_outputs(outputs / 'hours', outputs / 'days')}")


if __name__ == "__main__":
    main()
