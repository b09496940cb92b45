"""Run the dbt project from Python tasks.

dbt runs as a subprocess of the interpreter's own environment rather than through
``dbtRunner`` in-process: the subprocess exits when done, which is what releases the
DuckDB file lock (an in-process adapter keeps its connection cached), and it keeps dbt's
global logging/flags out of the Airflow worker. Artefacts (``target/``, ``logs/``) go under
``$ECOMFLOW_HOME/dbt/`` so runs never dirty the repository.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from tasks.settings import REPO_ROOT, get_settings
from tasks.subprocess_stream import stream_command

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

# Folders of dbt_project/models, in build order. `serving` reads tables that the
# scoring tasks write, so it is built separately once they exist.
LAYERS: dict[str, tuple[str, ...]] = {
    "warehouse": ("staging", "intermediate", "marts"),
    "staging": ("staging",),
    "intermediate": ("intermediate",),
    "marts": ("marts",),
    "serving": ("serving",),
}

# Sub-commands that connect to a target (and so accept --target / --profiles-dir).
_TARGET_COMMANDS = {
    "build", "run", "test", "seed", "snapshot", "compile", "show", "parse", "ls", "list",
    "debug", "docs", "source", "run-operation", "retry", "clone",
}
_FAILED_STATUSES = {"error", "fail", "runtime error"}


class DbtError(RuntimeError):
    """dbt exited non-zero. ``failed_nodes`` names the models/tests that failed."""

    def __init__(self, message: str, failed_nodes: list[str], returncode: int) -> None:
        super().__init__(message)
        self.failed_nodes = failed_nodes
        self.returncode = returncode


def dbt_home() -> Path:
    """Where dbt writes target/ and logs/ for this ECOMFLOW_HOME."""
    return get_settings().home / "dbt"


def _dbt_executable() -> Path:
    exe = Path(sys.executable).parent / "dbt"
    if not exe.exists():
        raise FileNotFoundError(
            f"dbt CLI not found beside the interpreter at {exe}; install dbt-core in this environment"
        )
    return exe


def _failed_nodes(target_path: Path) -> list[str]:
    """Failing nodes from run_results.json ("model.ecomflow.dim_users: error: ...")."""
    results_file = target_path / "run_results.json"
    if not results_file.exists():
        return []
    try:
        results = json.loads(results_file.read_text()).get("results", [])
    except (OSError, ValueError):
        return []
    failed = []
    for result in results:
        if str(result.get("status", "")).lower() in _FAILED_STATUSES:
            message = (result.get("message") or "").strip().splitlines()
            failed.append(f"{result.get('unique_id')}: {result.get('status')}"
                          + (f": {message[0]}" if message else ""))
    return failed


def run_dbt(
    args: list[str],
    extra_env: Mapping[str, str] | None = None,
    project_dir: Path | None = None,
) -> None:
    """Run ``dbt <args>`` against the configured warehouse; raise DbtError on failure.

    ``args`` starts with the sub-command (``["build", "--select", "marts"]``). Project,
    profiles, target, target-path and log-path are added here, and the profile's
    ``env_var()`` credentials come from ``Settings.dbt_env()``. ``project_dir`` exists
    for tests that build a modified copy of the project. Output is streamed to the logger
    line by line so it shows in the Airflow task log.
    """
    if not args:
        raise ValueError("run_dbt needs a dbt sub-command, e.g. ['build']")
    settings = get_settings()
    project = Path(project_dir or DBT_PROJECT_DIR)
    home = dbt_home()
    target_path = home / "target"
    log_path = home / "logs"
    target_path.mkdir(parents=True, exist_ok=True)
    log_path.mkdir(parents=True, exist_ok=True)
    # A stale run_results.json from an earlier run would blame the wrong nodes.
    (target_path / "run_results.json").unlink(missing_ok=True)

    command = [str(_dbt_executable()), *args]
    if args[0] in _TARGET_COMMANDS:
        command += ["--project-dir", str(project), "--profiles-dir", str(project)]
        if "--target" not in args and "-t" not in args:
            command += ["--target", settings.dbt_target]

    env = dict(os.environ)
    env.update(settings.dbt_env())
    env.update(
        {
            "DBT_TARGET_PATH": str(target_path),
            "DBT_LOG_PATH": str(log_path),
            "DBT_PROJECT_DIR": str(project),
            "DBT_PROFILES_DIR": str(project),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": "false",
        }
    )
    env.update(extra_env or {})

    log.info("dbt: %s (target=%s)", " ".join(args), settings.dbt_target)
    run = stream_command(command, logger=log, prefix="dbt", env=env, cwd=project, tail_lines=40)
    returncode, tail = run.returncode, run.tail
    if returncode != 0:
        failed = _failed_nodes(target_path)
        detail = "\n  ".join(failed) if failed else "\n  ".join(tail[-15:])
        raise DbtError(
            f"dbt {' '.join(args)} failed (exit {returncode}, target {settings.dbt_target}); "
            f"failing nodes:\n  {detail}\nlogs: {log_path / 'dbt.log'}",
            failed_nodes=[f.split(":")[0] for f in failed],
            returncode=returncode,
        )


def layer_selector(layers: Iterable[str]) -> list[str]:
    """dbt --select values (model folders) for layer names, e.g. 'warehouse' or 'serving'."""
    folders: list[str] = []
    for layer in layers:
        if layer not in LAYERS:
            raise ValueError(f"unknown dbt layer {layer!r}; expected one of {sorted(LAYERS)}")
        folders += [f for f in LAYERS[layer] if f not in folders]
    return [f"path:models/{folder}" for folder in folders]


def build_layer(layer: str, extra_args: list[str] | None = None) -> None:
    """``dbt build`` one layer: 'warehouse' (staging+intermediate+marts), a single folder, or 'serving'.

    ``--indirect-selection buildable`` keeps tests that also touch an unselected layer
    (e.g. a serving test reading a mart) out of the marts build, where their model is absent.
    """
    run_dbt(
        ["build", "--select", *layer_selector([layer]), "--indirect-selection", "buildable",
         *(extra_args or [])]
    )


def generate_docs() -> Path:
    """``dbt docs generate --static`` against the configured warehouse; returns the page.

    ``--static`` embeds the manifest and catalog in one ``static_index.html`` that opens from
    disk without a web server or internet (the plain ``index.html`` fetches both over HTTP).
    Run through ``run_dbt`` so the profile's ``env_var()`` settings are set (a bare
    ``dbt docs generate`` fails on ``ECOMFLOW_DUCKDB_PATH``).
    """
    run_dbt(["docs", "generate", "--static"])
    page = dbt_home() / "target" / "static_index.html"
    if not page.is_file():
        raise DbtError(f"dbt docs generate --static wrote no {page}")
    return page
