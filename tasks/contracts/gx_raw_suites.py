"""``expectations/raw_<entity>.yml`` rendered from the raw table contracts.

Each file has two parts. Everything above the ``MARKER`` line is generated: the column set,
not-null on every non-nullable column, uniqueness of the key, the declared allowed values and
bounds (the rules the loader quarantines by, so the gate is never looser or stricter), the
boolean value set and the partition hour. Below it, hand-written expectations the declaration
cannot express (PII regexes, stricter checks) are kept verbatim by the generator. Both parts
form one ``expectations:`` list, so ``tasks/quality/suites.py`` reads the file unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from tasks.ingest.schema import ENTITIES, LOADER_FILLED, Entity

MARKER = "  # ---- hand-written below this line (kept as is by the generator) ----"
HEADER = """\
# GENERATED down to the "hand-written" line by `python -m tasks.contracts.generate` from the
# raw table contract in tasks/ingest/schema.py: change a column or value rule there and re-run.
# Expectations the contract cannot express go below that line; the generator keeps them.
"""
# Columns every raw table has besides the canonical ones (``tasks.ingest.load.PARTITION_COLUMNS``).
PARTITION_COLUMNS = ("dt", "hr", "_source")
RULE_WHY = "declared in tasks/ingest/schema.py; the loader quarantines rows that break it"


def path(entity_name: str) -> str:
    return f"expectations/raw_{entity_name}.yml"


def _expectation(type_: str, meta: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"type": type_, "kwargs": kwargs}
    if meta:
        item["meta"] = meta
    return item


def generated_expectations(entity: Entity) -> list[dict[str, Any]]:
    """What the contract alone says about a loaded partition of ``raw.<entity>``."""
    optional = set(LOADER_FILLED.get(entity.name, ()))  # may be missing in tables created before them
    column_set = [c for c in entity.column_names if c not in optional] + list(PARTITION_COLUMNS)
    out = [_expectation("expect_table_columns_to_match_set", column_set=column_set, exact_match=False)]
    key_first = [*entity.key, entity.time_column]
    not_null = list(dict.fromkeys([*key_first, *entity.required]))
    out += [_expectation("expect_column_values_to_not_be_null", column=c) for c in not_null[:len(set(key_first))]]
    if len(entity.key) == 1:
        out.append(_expectation("expect_column_values_to_be_unique", column=entity.key[0]))
    else:
        out.append(_expectation("expect_compound_columns_to_be_unique", column_list=list(entity.key)))
    out += [_expectation("expect_column_values_to_not_be_null", column=c) for c in not_null[len(set(key_first)):]]
    for column in entity.columns:
        if column.name in optional:
            continue
        if column.allowed_values:
            out.append(_expectation("expect_column_values_to_be_in_set", {"why": RULE_WHY},
                                    column=column.name, value_set=list(column.allowed_values)))
        if column.min_value is not None:
            bound: dict[str, Any] = {"min_value": column.min_value}
            if column.strict_min:
                bound["strict_min"] = True
            out.append(_expectation("expect_column_values_to_be_between", {"why": RULE_WHY},
                                    column=column.name, **bound))
        if column.type == "bool":
            out.append(_expectation("expect_column_values_to_be_in_set", column=column.name,
                                    value_set=[True, False]))
    if entity.hourly:
        out.append(_expectation("expect_column_values_to_be_between", column="hr", min_value=0, max_value=23))
    else:
        out.append(_expectation("expect_column_values_to_be_null", {
            "why": f"{entity.name} is a daily entity; an hour here means the loader partitioned it wrongly"},
            column="hr"))
    return out


def _flow(value: Any) -> str:
    if isinstance(value, str):  # a JSON string is a valid YAML scalar, and never needs a document end
        return json.dumps(value, ensure_ascii=False)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True, sort_keys=False).strip()


def _render_item(item: dict[str, Any]) -> str:
    lines = [f"  - type: {item['type']}", f"    kwargs: {_flow(item['kwargs'])}"]
    if "meta" in item:
        lines.append(f"    meta: {_flow(item['meta'])}")
    return "\n".join(lines)


def hand_written_part(text: str | None) -> str:
    """What follows the marker line in an existing suite file ("" when there is none)."""
    if not text or MARKER not in text:
        return ""
    return text.split(MARKER + "\n", 1)[1] if MARKER + "\n" in text else ""


def render_suite(header: str, *, suite: str, table: str, description: str, partition: str,
                 notes: list[str], allow_empty: bool, expectations: list[dict[str, Any]],
                 existing: str | None) -> str:
    """One suite file: the generated head (``notes`` as comment lines above ``allow_empty``), the
    marker, then the hand-written part of ``existing`` kept verbatim. Shared by the raw, serving
    and marts suites."""
    head = [
        header.rstrip("\n"),
        f"suite: {suite}",
        f"table: {table}",
        f"description: {_flow(description)}",
        f"partition: {partition}",
        *(f"# {note}" for note in notes),
        f"allow_empty: {'true' if allow_empty else 'false'}",
        "expectations:",
        *(_render_item(item) for item in expectations),
        MARKER,
    ]
    return "\n".join(head) + "\n" + hand_written_part(existing)


def render(entity: Entity, existing: str | None) -> str:
    partitions = "hourly partitions (dt, hr)" if entity.hourly else "daily partitions (dt)"
    description = (f"Accepted rows of raw.{entity.name} after ingestion. {entity.description} "
                   f"Key: {', '.join(entity.key)}; {partitions}.")
    return render_suite(
        HEADER, suite=f"raw_{entity.name}", table=f"raw.{entity.name}", description=description,
        partition="{column: dt, hourly_column: hr}",
        notes=["The loader creates every raw table, so a source without this entity gives an empty",
               "partition, which passes (logged as empty), never fails."],
        allow_empty=True, expectations=generated_expectations(entity), existing=existing)


def render_all(read: Any) -> dict[str, str]:
    """``{path: text}`` for every raw suite; ``read(path)`` gives the current text or None."""
    return {path(name): render(entity, read(path(name))) for name, entity in ENTITIES.items()}
