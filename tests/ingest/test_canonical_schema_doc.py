"""docs/canonical_schema.md must describe exactly what tasks/ingest/schema.py defines."""

from __future__ import annotations

import re

from tasks.ingest.schema import ENTITIES
from tasks.settings import REPO_ROOT

DOC = REPO_ROOT / "docs" / "canonical_schema.md"


def _documented() -> dict[str, dict[str, tuple[str, bool]]]:
    entities: dict[str, dict[str, tuple[str, bool]]] = {}
    current = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^## (\w+)$", line)
        if heading:
            current = heading.group(1)
            continue
        row = re.match(r"^\| `(\w+)` \| (\w+) \| (yes|no) \|", line)
        if row and current in ENTITIES:
            entities.setdefault(current, {})[row.group(1)] = (row.group(2), row.group(3) == "yes")
    return entities


def test_doc_lists_every_entity_column_type_and_nullability() -> None:
    documented = _documented()
    assert set(documented) == set(ENTITIES)
    for name, ent in ENTITIES.items():
        expected = {c.name: (c.type, c.nullable) for c in ent.columns}
        assert documented[name] == expected, name


def test_doc_states_keys_and_time_columns() -> None:
    text = DOC.read_text()
    for ent in ENTITIES.values():
        section = text.split(f"## {ent.name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"- time column: `{ent.time_column}`" in section
        assert "- key: " + ", ".join(f"`{k}`" for k in ent.key) in section
