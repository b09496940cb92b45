"""The Spark Connect server with the JVM's default flags vs ecomflow's driver flags (same lake, same run).

A local stack's feature runs are short (a day's five feature sets, an hour's two), so the JVM's
optimising compiler (C2) and parallel-GC threads may cost more CPU than they save. This starts a
fresh Spark Connect server (what ``make run`` starts) per configuration, runs the daily feature
sets and the hourly ones ``--rounds`` times as its clients (as ``features.compute`` does), and
reports wall seconds per run and the server's CPU seconds (its whole process tree). The two
configurations alternate ``--repeats`` times, so load on the machine hits both alike.

    .venv/bin/python benchmarks/spark_jvm.py [--size S] [--rounds 2] [--repeats 1] [--home DIR]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: label -> ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS ("none": the JVM's defaults)
CONFIGS = {"JVM defaults": "none", "ecomflow": ""}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_cpu_s(pid: int) -> float:
    """CPU seconds of every process in ``pid``'s session (the server started its own)."""
    sid, total = os.getsid(pid), 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ProcessLookupError):
            continue
        total += sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def _measure(options: str, plan: dict[str, str], rounds: int) -> dict[str, float]:
    """Start a server with ``options``, run the feature sets ``rounds`` times, stop it."""
    from tasks import pipeline_catalogue as catalogue
    from tasks.orchestration.spark_connect import server_command
    from tasks.settings import reset

    env = dict(os.environ)
    if options:
        env["ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS"] = options
        os.environ["ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS"] = options
    else:
        env.pop("ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS", None)
        os.environ.pop("ECOMFLOW_SPARK_DRIVER_JAVA_OPTIONS", None)
    reset()
    port = _free_port()
    start = time.perf_counter()
    server = subprocess.Popen(server_command(port), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.perf_counter() - start > 180:
                raise RuntimeError("the Spark Connect server did not start")
            time.sleep(0.2)
        found = {"start": time.perf_counter() - start}
        day = plan["HOURLY_PARTITION"].split("T")[0]
        runs = (("daily", catalogue.feature_jobs("daily"), ["--as-of-date", plan["DAILY_LOGICAL_DATE"]]),
                ("hourly", catalogue.feature_jobs("hourly"),
                 ["--as-of-date", day, "--as-of-hour", plan["HOURLY_PARTITION"]]))
        for r in range(rounds):
            for kind, jobs, point in runs:
                cmd = [sys.executable, "-m", "tasks.features.run_job", "--remote", f"sc://127.0.0.1:{port}", *point]
                for job in jobs:
                    cmd += ["--job", job]
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
                if proc.returncode != 0:
                    raise RuntimeError(f"{kind} feature run failed:\n{proc.stderr[-3000:]}")
                found[f"{kind} {r + 1}"] = time.perf_counter() - t0
        found["server CPU"] = _session_cpu_s(server.pid)
        return found
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="S", choices=("S", "M", "L"))
    parser.add_argument("--home", type=Path, default=None, help="reuse this ECOMFLOW_HOME's lake")
    parser.add_argument("--rounds", type=int, default=2, help="daily + hourly runs per server")
    parser.add_argument("--repeats", type=int, default=1, help="servers per configuration, alternating")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ecomflow-bench-jvm-"))
    os.environ["ECOMFLOW_HOME"] = str(home)
    os.environ["ECOMFLOW_SYNTHETIC_SIZE"] = args.size
    os.environ.setdefault("ECOMFLOW_PII_KEY", "benchmark-only-key")
    os.environ.pop("ECOMFLOW_SPARK_REMOTE", None)
    from tasks.cli import backfill_ingest, plan
    from tasks.partitions import Partition
    from tasks.settings import Settings

    planned = plan()
    if not (home / "lake").exists():
        t0 = time.perf_counter()
        backfill_ingest(Partition.parse(planned["DAILY_PARTITION"]))
        day = planned["HOURLY_PARTITION"].split("T")[0]
        backfill_ingest(Partition.parse(planned["HOURLY_PARTITION"]), since=Partition.parse(f"{day}T00"))
        print(f"built the {args.size} lake in {time.perf_counter() - t0:.1f} s")
    results: dict[str, list[dict[str, float]]] = {label: [] for label in CONFIGS}
    for _ in range(args.repeats):
        for label, options in CONFIGS.items():
            results[label].append(_measure(options, planned, args.rounds))
    default_flags = Settings.model_fields["spark_driver_java_options"].default
    print(f"\nSpark Connect server, synthetic {args.size}, {args.rounds} daily + hourly feature runs per server, "
          f"upper median of {args.repeats} server(s); ecomflow = `{default_flags}`\n")
    columns = list(results["ecomflow"][0])
    print("| configuration | " + " | ".join(f"{c} (s)" for c in columns) + " | server CPU vs JVM defaults |")
    print("|---|" + "---:|" * (len(columns) + 1))
    base_cpu = sorted(r["server CPU"] for r in results["JVM defaults"])[args.repeats // 2]
    for label, runs in results.items():
        cells = [sorted(r[c] for r in runs)[args.repeats // 2] for c in columns]
        ratio = cells[columns.index("server CPU")] / base_cpu
        print(f"| {label} | " + " | ".join(f"{v:.1f}" for v in cells) + f" | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
