"""Write (or ``--check``) every file derived from the table contracts (raw to serving, operations).

    python -m tasks.contracts.generate          # rewrite the derived files
    python -m tasks.contracts.generate --check  # exit 1 and show the diff when one drifted

Run it after changing ``tasks/ingest/schema.py`` (raw tables), ``tasks/score/schema.py``
(serving tables), ``tasks/contracts/staging_schema.py`` (dbt staging and intermediate models),
``tasks/contracts/marts_schema.py`` (marts), ``tasks/contracts/features_schema.py`` (Spark
feature tables; with ``FeatureJob.definitions`` in ``tasks/features/catalogue.py``) or
``tasks/contracts/operations_schema.py`` (``audit.*``, ``ml.*``, ``monitoring.*``,
``features.user_segments``); ``tests/test_contracts_declared_once.py``,
``tests/test_serving_contracts_declared_once.py``, ``tests/test_staging_contracts_declared_once.py``,
``tests/test_marts_contracts_declared_once.py``, ``tests/test_feature_contracts_declared_once.py``
and ``tests/test_operations_contracts_declared_once.py`` run the check.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from tasks.contracts import (
    canonical_schema_doc,
    dbt_marts_models,
    dbt_serving_sources,
    dbt_sources,
    dbt_staging_models,
    feature_schema_doc,
    gx_features_suites,
    gx_marts_suites,
    gx_raw_suites,
    gx_serving_suites,
    marts_schema_doc,
    operations_schema_doc,
    pinned_values,
    serving_schema_doc,
    staging_schema_doc,
)
from tasks.settings import REPO_ROOT

DECLARATIONS = ("tasks/ingest/schema.py, tasks/score/schema.py, tasks/contracts/staging_schema.py, "
                "tasks/contracts/marts_schema.py, tasks/contracts/features_schema.py and "
                "tasks/contracts/operations_schema.py")


def derived_files(root: Path = REPO_ROOT) -> dict[str, str]:
    """``{path relative to root: the text it must have}`` for every derived file."""

    def read(relative: str) -> str | None:
        file = root / relative
        return file.read_text() if file.exists() else None

    files = {
        dbt_sources.PATH: dbt_sources.render(),
        canonical_schema_doc.PATH: canonical_schema_doc.render(),
        **gx_raw_suites.render_all(read),
        dbt_serving_sources.PATH: dbt_serving_sources.render(),
        serving_schema_doc.PATH: serving_schema_doc.render(),
        **gx_serving_suites.render_all(read),
        **dbt_staging_models.render_all(),
        staging_schema_doc.PATH: staging_schema_doc.render(),
        dbt_marts_models.PATH: dbt_marts_models.render(),
        marts_schema_doc.PATH: marts_schema_doc.render(),
        **gx_marts_suites.render_all(read),
        feature_schema_doc.PATH: feature_schema_doc.render(),
        **gx_features_suites.render_all(read),
        operations_schema_doc.PATH: operations_schema_doc.render(),
    }
    files.update(pinned_values.render_all(root, set(files)))
    return files


def drift(root: Path = REPO_ROOT) -> dict[str, str]:
    """``{path: unified diff}`` of every derived file whose committed text differs."""
    out = {}
    for relative, wanted in derived_files(root).items():
        file = root / relative
        current = file.read_text() if file.exists() else ""
        if current != wanted:
            out[relative] = "".join(difflib.unified_diff(
                current.splitlines(keepends=True), wanted.splitlines(keepends=True),
                fromfile=f"{relative} (committed)", tofile=f"{relative} (from {DECLARATIONS})"))
    return out


def write(root: Path = REPO_ROOT) -> list[str]:
    """Rewrite the derived files that drifted; returns their paths."""
    changed = []
    for relative, wanted in derived_files(root).items():
        file = root / relative
        if not file.exists() or file.read_text() != wanted:
            file.write_text(wanted)
            changed.append(relative)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.contracts.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a derived file drifted")
    args = parser.parse_args(argv)
    if args.check:
        drifted = drift()
        for diff in drifted.values():
            sys.stdout.write(diff)
        if drifted:
            print(f"\n{len(drifted)} file(s) differ from {DECLARATIONS}: {sorted(drifted)}; "
                  "run `python -m tasks.contracts.generate` and commit the result", file=sys.stderr)
            return 1
        print(f"derived files match {DECLARATIONS}")
        return 0
    changed = write()
    print("\n".join(f"wrote {c}" for c in changed) or "nothing to write: derived files already match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
