"""Turn a pydantic ``ValidationError`` into lines a person who wrote the YAML can act on.

Every config file of the project (mapping YAMLs, GX suite files, model configs) is
validated by pydantic models with ``extra="forbid"``. pydantic's own message
("Extra inputs are not permitted", location ``('files', 0, 'csv', 'delimeter')``)
names neither the key path as the file spells it nor what was meant, so this module
renders each error as ``files[0].csv.delimeter: unknown key(s) ['delimeter'] (did you
mean 'delimiter'?); allowed keys are [...]``: key path, problem, hint.

Kept free of heavy imports (pydantic and difflib only): the suite files are read at
DAG parse time.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


def key_path(loc: Sequence[int | str]) -> str:
    """``('files', 0, 'csv')`` -> ``files[0].csv``, as the key is found in the YAML."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'format'?)`` for the closest candidate, else ``""``."""
    match = difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def allowed_keys(model: type) -> list[str]:
    """The keys a model (or a dataclass validated by pydantic) accepts, as spelt in the file."""
    if dataclasses.is_dataclass(model):
        return sorted(f.name for f in dataclasses.fields(model))
    return sorted(info.alias or name for name, info in model.model_fields.items())


def model_at(root: Any, loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping found at ``loc`` under ``root`` (a type).

    Walks field annotations through ``list[X]``, ``tuple[X, ...]``, ``dict[K, V]``,
    ``X | None``, ``Annotated[X, ...]`` and unions (the model member), so an unknown-key
    error can list the keys allowed *there*.
    """
    current: Any = root
    for part in loc:
        model = _model_in(current)
        if isinstance(part, str) and _is_model(model):
            fields = {info.alias or name: info for name, info in model.model_fields.items()}
            if part not in fields:
                return None
            current = fields[part].annotation
            continue
        current = _item_type(current)  # a list index or a dict key: step into the item type
        if current is None:
            return None
    found = _model_in(current)
    return found if _is_model(found) else None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _members(tp: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return tuple(m for a in typing.get_args(tp) for m in _members(a))
    return (tp,)


def _model_in(tp: Any) -> Any:
    """The model member of ``tp`` (``Model | str | None`` -> ``Model``), else ``tp``."""
    members = _members(tp)
    return next((m for m in members if _is_model(m)), members[0] if len(members) == 1 else tp)


def _item_type(tp: Any) -> Any:
    """The element/value type of a list/tuple/dict member of ``tp``."""
    for member in _members(tp):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if origin in (list, tuple, set, frozenset, Sequence) and args:
            return args[0]
        if origin is dict and len(args) == 2:
            return args[1]
    return None


def describe(error: ValidationError, root: Any, prefix: Sequence[int | str] = (),
             top: str = "top level") -> list[str]:
    """One ``<key path>: <problem>[ hint]`` line per error of ``error`` (validated as ``root``).

    ``top`` names the document itself in errors about no key in particular.
    """
    lines = []
    for item in error.errors(include_url=False):
        loc = [*prefix, *item["loc"]]
        # extra_forbidden: a model; unexpected_keyword_argument: a dataclass (train configs)
        if item["type"] in ("extra_forbidden", "unexpected_keyword_argument") and loc:
            parent = root if len(item["loc"]) == 1 else model_at(root, item["loc"][:-1])
            key = str(loc[-1])
            allowed = allowed_keys(parent) if parent else []
            where = key_path(loc) if loc[:-1] else key
            at_top = " at the top level" if not loc[:-1] else ""
            lines.append(f"{where}: unknown key(s) [{key!r}]{at_top}{did_you_mean(key, allowed)}"
                         + (f"; allowed keys are {allowed}" if allowed else ""))
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing" and loc:
            lines.append(f"{key_path(loc[:-1]) or top}: missing required key(s) [{str(loc[-1])!r}]")
            continue
        shown = "" if item["type"].startswith(("value_error", "assertion_error")) else f", got {item['input']!r}"
        lines.append(f"{key_path(loc) or top}: {message}{shown}")
    return lines
