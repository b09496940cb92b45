"""Data sources feeding the canonical raw schema (see ``base.Source``).

``get_source(spec)`` is the one entry point the DAGs use; ``spec`` normally
comes from ``ECOMFLOW_SOURCE`` via ``get_settings().source``.
"""

from __future__ import annotations

from pathlib import Path

from tasks.ingest.sources.base import REASON, SOURCE_FILE, SOURCE_ROW, Source
from tasks.ingest.sources.mapping_config import MappingError

__all__ = ["REASON", "SOURCE_FILE", "SOURCE_ROW", "MappingError", "Source", "get_source", "SOURCE_SPECS"]

SOURCE_SPECS = ("synthetic", "uci_online_retail", "<path to a mapping .yml/.yaml>")


def get_source(spec: str) -> Source:
    """Build the source named by ``spec``: ``synthetic``, ``uci_online_retail`` or a mapping YAML path."""
    if spec == "synthetic":
        from tasks.ingest.sources.synthetic import SyntheticSource

        return SyntheticSource()
    if spec == "uci_online_retail":
        from tasks.ingest.sources.uci_online_retail import OnlineRetailSource

        return OnlineRetailSource()
    path = Path(spec).expanduser()
    if path.suffix.lower() in (".yml", ".yaml"):
        if not path.exists():
            raise ValueError(f"mapping file {spec!r} does not exist (resolved to {path.resolve()})")
        from tasks.ingest.sources.mapping import MappingSource

        return MappingSource(path)
    raise ValueError(f"unknown source {spec!r}; use one of {list(SOURCE_SPECS)}")
