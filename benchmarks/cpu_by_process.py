"""CPU seconds by kind of process while a command runs: where `make run` or an e2e test spends the cores.

The test suite is CPU-bound on 2 cores (the machine's busy fraction is printed too), so the
question for making it faster is which processes use the CPU, not which waits are long. The
local stack's services are daemons (not children of the command), so ``time`` misses them; this
samples every process in ``/proc`` every ``--interval`` seconds and keeps each one's last
utime + stime (processes that live shorter than the interval are missed, so the total is a
lower bound). Linux only.

    .venv/bin/python benchmarks/cpu_by_process.py [--interval 0.25] [--top 15] -- make run
    .venv/bin/python benchmarks/cpu_by_process.py -- .venv/bin/pytest tests/e2e/test_pipeline.py -n 0
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")

#: (pattern over the command line, kind) - the first match wins.
KINDS = (
    (r"airflow scheduler", "Airflow scheduler"),
    (r"airflow worker", "Airflow task processes (and idle LocalExecutor workers)"),
    (r"airflow api-server", "Airflow api-server"),
    (r"airflow dag-processor", "Airflow dag-processor"),
    (r"airflow triggerer", "Airflow triggerer"),
    (r"SparkConnectServer|org\.apache\.spark", "Spark JVM"),
    (r"dbt_worker", "dbt worker (+ its per-model children)"),
    (r"/dbt ", "dbt CLI"),
    (r"chrom", "Chromium"),
    (r"pytest", "pytest"),
    (r"/ecomflow ", "ecomflow CLI"),
    (r"postgres", "PostgreSQL"),
)


def _kind(command: str) -> str:
    for pattern, kind in KINDS:
        if re.search(pattern, command):
            return kind
    return "other: " + (command.split()[0].rsplit("/", 1)[-1] if command.split() else "?")


def _cpu_ticks() -> dict[tuple[str, str], int]:
    """(pid, start time) -> utime + stime ticks, for every process readable now."""
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        if (found := process_ticks(pid)) is not None:
            ticks[(pid, found[1])] = found[0]
    return ticks


def process_ticks(pid: int | str) -> tuple[int, str] | None:
    """(utime + stime ticks, start time) of one process (not its children); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12]), fields[19]


def _command(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy, busy + values[3] + values[4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")

    before = _cpu_ticks()
    seen: dict[tuple[str, str], list] = {}  # key -> [last ticks, command line]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for key, ticks in _cpu_ticks().items():
                if key in seen:
                    if ticks != seen[key][0]:  # active: re-read, an exec (bash -c's last command) renames it
                        seen[key] = [ticks, _command(key[0]) or seen[key][1]]
                else:
                    seen[key] = [ticks, _command(key[0])]
            time.sleep(args.interval)

    machine_before, started = machine_ticks(), time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = subprocess.call(command)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    machine_after = machine_ticks()

    by_kind: Counter[str] = Counter()
    count: Counter[str] = Counter()
    own = os.getpid()
    for key, (ticks, cmd) in seen.items():
        if key[0] == str(own):
            continue
        used = (ticks - before.get(key, 0)) / HZ
        if used > 0:
            kind = _kind(cmd)
            by_kind[kind] += used
            count[kind] += 1
    busy = (machine_after[0] - machine_before[0]) / HZ
    cores = os.cpu_count() or 1
    print(f"\n`{' '.join(command)}`: exit {code}, {wall:.0f} s wall; the machine's {cores} cores "
          f"{100 * busy / (wall * cores):.0f} % busy ({busy:.0f} core-s); sampled every {args.interval} s\n")
    print("| processes | count | CPU (s) | share of sampled |")
    print("|---|---:|---:|---:|")
    total = sum(by_kind.values())
    for kind, seconds in by_kind.most_common(args.top):
        print(f"| {kind} | {count[kind]} | {seconds:.1f} | {100 * seconds / total:.0f} % |")
    print(f"| all sampled | {sum(count.values())} | {total:.1f} | 100 % |")
    sys.exit(code)


if __name__ == "__main__":
    main()
