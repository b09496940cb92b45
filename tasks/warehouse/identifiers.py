"""Identifier validation: SQL names built from user input (mapping files, params)
are checked against a strict pattern and quoted; values always go as parameters."""

from __future__ import annotations

import re

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def quote_ident(name: str) -> str:
    """Return ``"name"`` after checking it is a plain SQL identifier."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(
            f"invalid SQL identifier {name!r}: use letters, digits and underscores "
            "(max 63 characters, not starting with a digit)"
        )
    return f'"{name}"'


def qualified(table: str) -> str:
    """Quote ``schema.table`` (both parts required)."""
    parts = table.split(".")
    if len(parts) != 2:
        raise ValueError(f"table name {table!r} must be schema-qualified as 'schema.table'")
    return ".".join(quote_ident(p) for p in parts)
