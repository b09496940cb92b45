"""Value lists in hand-written yml pinned to a declared column.

Some hand-written files must repeat a column's allowed values (dbt ``accepted_values`` on a
staging or mart model, a GX value set on a mart suite). Such a line ends with a marker
comment naming the raw column, e.g.::

    values: ["view", "cart", "purchase", "search"]  # contract: events.event_type

and the generator rewrites the ``[...]`` on that line from the declaration (keeping the
line's quoting style), so the list is typed once, in ``tasks/ingest/schema.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tasks.ingest.schema import entity

# Where pinned lines may live (relative to the repository root).
SEARCHED = ("dbt_project/models/**/*.yml", "expectations/*.yml")
_PINNED = re.compile(r"^(?P<head>.*)\[(?P<values>[^\]]*)\](?P<tail>\s+#\s*contract:\s*(?P<entity>\w+)\.(?P<column>\w+)\s*)$")


class PinError(ValueError):
    """A marker names a column without allowed values, or an unknown entity/column."""


def _render_values(values: tuple[str, ...], quoted: bool) -> str:
    return ", ".join(json.dumps(v) if quoted else v for v in values)


def rewrite(text: str, where: str) -> str:
    """``text`` with every pinned list replaced by the declared values."""
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        match = _PINNED.match(line)
        if match:
            try:
                column = entity(match["entity"]).column(match["column"])
            except KeyError as exc:
                raise PinError(f"{where} line {number}: {exc.args[0]}") from None
            if not column.allowed_values:
                raise PinError(f"{where} line {number}: {match['entity']}.{match['column']} declares no "
                               f"allowed values in tasks/ingest/schema.py")
            values = _render_values(column.allowed_values, quoted='"' in match["values"])
            line = f"{match['head']}[{values}]{match['tail']}"
        out.append(line)
    return "\n".join(out)


def pinned_files(root: Path) -> list[Path]:
    return sorted({p for pattern in SEARCHED for p in root.glob(pattern) if "# contract:" in p.read_text()})


def render_all(root: Path, generated: set[str]) -> dict[str, str]:
    """``{path: text}`` of every hand-written file with a pinned line (generated files excluded)."""
    out = {}
    for file in pinned_files(root):
        relative = file.relative_to(root).as_posix()
        if relative not in generated:
            out[relative] = rewrite(file.read_text(), relative)
    return out
