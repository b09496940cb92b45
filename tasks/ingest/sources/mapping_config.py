"""Parse and strictly validate a mapping YAML (format documented in tasks/ingest/README.md).

Every error is a :class:`MappingError` whose message starts with the mapping
file and the key path (``files[0].columns.foo``), because the person reading
it wrote that YAML by hand and needs to find the line to fix.

Two passes. The *shape* of the document (which keys exist where, which are required,
the shorthands) is declared once by the pydantic models ``_MappingDoc`` and below
(``extra="forbid"``): every unknown key in the file is reported at once with its key path
and the key it probably meant. The checks that need the canonical schema (entities,
canonical columns, event types, what can be derived) and the data-dependent ones then run
in ``_Parser`` on the checked document; they were written for this format's own rules and
have no library equivalent, but their key sets come from the models.
"""

from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tasks.config_errors import allowed_keys, describe
from tasks.ingest.errors import did_you_mean
from tasks.ingest.pii import looks_like_pii_name
from tasks.ingest.schema import (
    ENTITIES,
    EVENT_TYPES,
    EXTRA_FEATURE_ENTITIES,
    EXTRA_FEATURE_TYPES,
    IGNORED_VALUE_PREFIX,
    LOADER_FILLED,
    PII_SOURCE_COLUMNS,
)
from tasks.ingest.sources.base import PII_BY_ENTITY


# ---- the document's shape (keys and shorthands); values are checked by _Parser --------------
class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Csv(_Shape):
    delimiter: Any = None
    encoding: Any = None
    header: Any = None
    names: Any = None
    quotechar: Any = None


class _Timestamp(_Shape):
    column: Any
    format: Any = None
    default_year: Any = None
    default_day: Any = None
    timezone: Any = None
    origin: Any = None


class _Wide(_Shape):
    columns: Any
    value: Any = None
    day: Any = None
    start_date: Any = None
    start_number: Any = None
    date_format: Any = None


class _Feature(_Shape):
    column: Any = None
    type: Any


class _ColumnSpec(_Shape):
    """One of the kinds (``column``/``constant``/``row_number``/``sum``/``template``) and its options."""

    column: Any = None
    matches: Any = None
    constant: Any = None
    row_number: Any = None
    prefix: Any = None
    within: Any = None
    sum: Any = None
    template: Any = None


def _shorthand(key: str) -> Any:
    """``timestamp: ts`` means ``timestamp: {column: ts}`` (and alike): expand before checking keys."""
    def expand(value: Any) -> Any:
        return {key: value} if isinstance(value, str | bool) else value
    return expand


class _File(_Shape):
    path: Any
    entity: Any
    columns: dict[Any, _ColumnSpec | None]
    format: Any = None
    csv: _Csv | None = None
    timestamp: _Timestamp | None = None  # required unless `wide` supplies the melted day
    event_type_map: Any = None
    boolean_map: Any = None
    id_columns: Any = None
    partition: Any = None
    wide: _Wide | None = None
    features: dict[Any, _Feature] | None = None

    _timestamp = field_validator("timestamp", mode="before")(_shorthand("column"))

    @field_validator("columns", mode="before")
    @classmethod
    def _column_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):  # `user_id: visitor` is `user_id: {column: visitor}`
            return {k: {"column": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("features", mode="before")
    @classmethod
    def _feature_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):  # `basket_size: numeric` is `basket_size: {type: numeric}`
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


class _Derive(_Shape):
    derive: Any = None


class _DeriveSessions(_Derive):
    inactivity_minutes: Any = None


class _MappingDoc(_Shape):
    source_name: Any
    files: list[_File] = Field(min_length=1)
    description: Any = None
    quarantine_max_share: Any = None
    users: _Derive | None = None
    products: _Derive | None = None
    sessions: _DeriveSessions | None = None

    _derive = field_validator("users", "products", "sessions", mode="before")(_shorthand("derive"))


TOP_KEYS = set(allowed_keys(_MappingDoc))
FILE_KEYS = set(allowed_keys(_File))
WIDE_KEYS = set(allowed_keys(_Wide))
DERIVE_KEYS = {"users": set(allowed_keys(_Derive)), "products": set(allowed_keys(_Derive)),
               "sessions": set(allowed_keys(_DeriveSessions))}
# Entities whose user_id / product_id feed derived users / products.
USER_CARRIERS = ("events", "order_lines", "transactions", "sessions")
PRODUCT_CARRIERS = ("events", "order_lines", "daily_sales", "prices", "inventory")
# Columns a file may map that are not columns of its entity, only carried to a derived entity:
# a clickstream's category id becomes the category of the derived product.
CARRIED = {"events": ("category",), "order_lines": ("category",)}
DEFAULT_INACTIVITY_MINUTES = 30
_FEATURE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
CSV_KEYS = set(allowed_keys(_Csv))
TIMESTAMP_KEYS = set(allowed_keys(_Timestamp))
FORMATS = ("csv", "parquet")
#: Numbers counted from 1970-01-01 (or a mapping's ``origin``) -> their pandas unit: seconds,
#: milliseconds, and the hours or days a simulation's time step counts (``step``).
EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_h": "h", "epoch_d": "D"}
SPECIAL_TIME_FORMATS = ("iso8601", "month_name", *EPOCH_UNITS)
#: The time of a users/products file that has none (a profile table: id, gender, age band): each
#: row's time is when its id is first seen in the source's other files (``MappingSource.build``).
FIRST_SEEN = "first_seen"
#: Entities whose file may omit ``timestamp`` (a profile has attributes, not a time).
PROFILE_ENTITIES = {"users": "user_id", "products": "product_id"}
COLUMN_SPEC_KINDS = ("column", "constant", "row_number", "sum", "template")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


class MappingError(ValueError):
    """A mapping file (or the data it points at) does not fit the mapping format."""


@dataclass(frozen=True)
class ColumnSpec:
    """How one canonical column is filled: from a source column, a constant or generated."""

    kind: str  # one of COLUMN_SPEC_KINDS
    source: tuple[str, ...] = ()  # source columns read (column/sum/template/row_number within)
    constant: Any = None
    prefix: str = ""
    template: str = ""
    matches: str | None = None  # column kind: regex -> boolean "value matches"


@dataclass(frozen=True)
class TimestampSpec:
    column: str
    format: str
    default_year: int | None = None
    default_day: int = 1
    timezone: str | None = None
    # epoch_* formats count from this instant (a data set's "seconds since the first row"); None: 1970-01-01.
    origin: datetime | None = None


@dataclass(frozen=True)
class CsvOptions:
    delimiter: str = ","
    encoding: str = "utf-8"
    header: bool = True
    names: tuple[str, ...] | None = None
    quotechar: str = '"'


@dataclass(frozen=True)
class WideSpec:
    """Per-day columns (``d_1..d_N`` or date-named) melted into one row per source row and day.

    Each melted row gets two new source columns: ``value`` (the cell) and ``day`` (its date,
    a datetime): ``start_date + (N - start_number)`` days for a column whose ``columns``
    pattern captures the number N, or the column name parsed with ``date_format``.
    """

    pattern: str
    value: str = "value"
    day: str = "day"
    start_date: date | None = None
    start_number: int = 1
    date_format: str | None = None

    def matches(self, available: list[str]) -> list[str]:
        regex = re.compile(self.pattern)
        return [c for c in available if regex.fullmatch(c)]


@dataclass(frozen=True)
class FeatureSpec:
    """A shop-specific model feature: the source column and its type (numeric|categorical)."""

    column: str
    type: str


@dataclass(frozen=True)
class DeriveSpec:
    """Which entities the source derives from its own rows when it has no file for them."""

    users: bool = False
    products: bool = False
    sessions: bool = False
    inactivity_minutes: int = DEFAULT_INACTIVITY_MINUTES


@dataclass(frozen=True)
class FileMapping:
    index: int
    path: Path
    format: str
    entity: str
    columns: dict[str, ColumnSpec]
    timestamp: TimestampSpec
    csv: CsvOptions = field(default_factory=CsvOptions)
    event_type_map: dict[str, str] = field(default_factory=dict)
    boolean_map: dict[str, bool] = field(default_factory=dict)
    id_columns: tuple[str, ...] = ()
    # The daily partition this file delivers (a daily drop), or None: rows go by their own time.
    partition: date | None = None
    wide: WideSpec | None = None
    features: dict[str, FeatureSpec] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"files[{self.index}]"

    def source_columns(self) -> dict[str, str]:
        """Every source column the mapping reads -> the key that reads it (for error messages)."""
        used = {self.timestamp.column: f"{self.where}.timestamp.column"} if self.timestamp.column else {}
        for canonical, spec in self.columns.items():
            for col in spec.source:
                used.setdefault(col, f"{self.where}.columns.{canonical}")
        for name, feature in self.features.items():
            used.setdefault(feature.column, f"{self.where}.features.{name}")
        return used


@dataclass(frozen=True)
class Mapping:
    mapping_file: Path
    source_name: str
    files: tuple[FileMapping, ...]
    description: str = ""
    raw_text: str = ""
    quarantine_max_share: float | None = None
    derive: DeriveSpec = field(default_factory=DeriveSpec)

    def entities(self) -> list[str]:
        """Entities with a file plus the derived ones."""
        return sorted({f.entity for f in self.files} | set(self.derived_entities()))

    def derived_entities(self) -> list[str]:
        return [e for e in ("users", "products") if getattr(self.derive, e)]

    def extra_features(self, entity: str) -> dict[str, str]:
        """Feature name -> type over every file of ``entity``."""
        return {name: spec.type for f in self.files if f.entity == entity for name, spec in f.features.items()}


def load_mapping(mapping_file: str | Path) -> Mapping:
    path = Path(mapping_file).expanduser().resolve()
    if not path.exists():
        raise MappingError(f"mapping file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    check_shape(path, doc)
    return _Parser(path).mapping(doc, text)


def check_shape(mapping_file: Path, doc: Any) -> None:
    """Every unknown or missing key of the document at once, each with its key path and a hint."""
    try:
        _MappingDoc.model_validate(doc)
    except ValidationError as exc:
        raise MappingError(f"{mapping_file}: " + "; ".join(describe(exc, _MappingDoc))) from None


class _Parser:
    def __init__(self, mapping_file: Path) -> None:
        self.file = mapping_file

    def fail(self, where: str, message: str) -> MappingError:
        return MappingError(f"{self.file}: {where}: {message}")

    def keys(self, where: str, value: Any, allowed: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping (key: value), got {type(value).__name__}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            # Point at the offending key itself, so the reader finds the line to fix.
            at_top = where == "top level"
            path = where if len(unknown) > 1 else (unknown[0] if at_top else f"{where}.{unknown[0]}")
            raise self.fail(path, f"unknown key(s) {unknown}{' at the top level' if at_top else ''}"
                            f"{did_you_mean(unknown[0], allowed)}; allowed keys are {sorted(allowed)}")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(where, f"missing required key(s) {missing}")
        return value

    def text(self, where: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def mapping(self, doc: Any, raw_text: str) -> Mapping:
        doc = self.keys("top level", doc, TOP_KEYS, {"source_name", "files"})
        name = self.text("source_name", doc["source_name"])
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise self.fail("source_name", f"{name!r} may only contain letters, digits, '_', '-', '.'")
        files = doc["files"]
        if not isinstance(files, list) or not files:
            raise self.fail("files", "expected a non-empty list of files")
        mapped = tuple(self.file_mapping(i, f) for i, f in enumerate(files))
        return Mapping(self.file, name, mapped, str(doc.get("description") or ""), raw_text,
                       self.share(doc.get("quarantine_max_share")), self.derive(doc, mapped))

    def share(self, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise self.fail("quarantine_max_share", f"expected a share between 0 and 1 (e.g. 0.05 for 5 %), "
                            f"got {value!r}")
        return float(value)

    def derive(self, doc: dict, files: tuple[FileMapping, ...]) -> DeriveSpec:
        """Derive users/products/sessions when no file provides them (unless ``derive: false``)."""
        have = {f.entity for f in files}
        specs = {}
        for name, allowed in DERIVE_KEYS.items():
            value = doc.get(name)
            if value is None:
                specs[name] = {}
            elif isinstance(value, bool):
                specs[name] = {"derive": value}
            else:
                specs[name] = self.keys(name, value, allowed)
                if "derive" in specs[name] and not isinstance(specs[name]["derive"], bool):
                    raise self.fail(f"{name}.derive", f"expected true or false, got {specs[name]['derive']!r}")
        carriers = {"users": USER_CARRIERS, "products": PRODUCT_CARRIERS}
        flags = {}
        for name, column in (("users", "user_id"), ("products", "product_id")):
            can = [f for f in files if f.entity in carriers[name] and column in f.columns]
            wanted = specs[name].get("derive", name not in have and bool(can))
            if wanted and name in have:
                raise self.fail(f"{name}.derive", f"a file already provides {name!r}; derive only what no file has")
            if wanted and not can:
                raise self.fail(f"{name}.derive", f"no file maps {column!r} on any of {list(carriers[name])}, "
                                f"so there is nothing to derive {name} from")
            flags[name] = bool(wanted)
        events = [f for f in files if f.entity == "events"]
        unmapped = [f for f in events if "session_id" not in f.columns]
        sessions = specs["sessions"].get("derive", bool(unmapped))
        if unmapped and not sessions:
            raise self.fail(f"{unmapped[0].where}.columns", "required column(s) ['session_id'] of 'events' are not "
                            "mapped: map it, or derive sessions with `sessions: {derive: true, "
                            "inactivity_minutes: 30}`")
        if sessions and not events:
            raise self.fail("sessions.derive", "sessions are derived from events, and no file maps 'events'")
        minutes = specs["sessions"].get("inactivity_minutes", DEFAULT_INACTIVITY_MINUTES)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or minutes <= 0:
            raise self.fail("sessions.inactivity_minutes", f"expected a positive number of minutes, got {minutes!r}")
        return DeriveSpec(flags["users"], flags["products"], bool(sessions), int(minutes))

    def expand(self, where: str, value: str) -> str:
        def replace(match: re.Match) -> str:
            var, default = match.group(1), match.group(2)
            env = os.environ.get(var)
            if env:
                return env
            if default is None:
                raise self.fail(where, f"environment variable ${{{var}}} is not set (use ${{{var}:-default}})")
            return default
        return _ENV.sub(replace, value)

    def file_mapping(self, i: int, spec: Any) -> FileMapping:
        where = f"files[{i}]"
        spec = self.keys(where, spec, FILE_KEYS, {"path", "entity", "columns"})
        wide = self.wide(f"{where}.wide", spec.get("wide"))
        entity = self.text(f"{where}.entity", spec["entity"])
        profile = "timestamp" not in spec and wide is None and entity in PROFILE_ENTITIES
        if "timestamp" not in spec and not profile:
            if wide is None:
                raise self.fail(where, "missing required key(s) ['timestamp'] (only a users or products file may "
                                "omit it: its rows then date from when each id is first seen)")
            spec = {**spec, "timestamp": {"column": wide.day}}  # the melted day
        if entity not in ENTITIES:
            raise self.fail(f"{where}.entity", f"unknown entity {entity!r}{did_you_mean(entity, list(ENTITIES))}; "
                            f"canonical entities are {sorted(ENTITIES)}")
        path = Path(self.expand(f"{where}.path", self.text(f"{where}.path", spec["path"])))
        path = (path if path.is_absolute() else self.file.parent / path).resolve()
        fmt = spec.get("format") or _guess_format(path)
        if fmt not in FORMATS:
            raise self.fail(f"{where}.format", f"unknown format {fmt!r}; use one of {list(FORMATS)}")
        csv = self.csv_options(f"{where}.csv", spec.get("csv") or {})
        if fmt != "csv" and spec.get("csv"):
            raise self.fail(f"{where}.csv", "csv options given for a non-csv file")
        timestamp = (TimestampSpec("", FIRST_SEEN) if profile
                     else self.timestamp(f"{where}.timestamp", spec["timestamp"]))
        columns = self.columns(f"{where}.columns", entity, spec["columns"])
        event_map = self.event_type_map(f"{where}.event_type_map", entity, spec.get("event_type_map") or {})
        bool_map = self.boolean_map(f"{where}.boolean_map", spec.get("boolean_map") or {})
        ids = spec.get("id_columns") or []
        if not isinstance(ids, list):
            raise self.fail(f"{where}.id_columns", "expected a list of canonical column names")
        for col in ids:
            if col not in ENTITIES[entity].column_names:
                raise self.fail(f"{where}.id_columns", f"{col!r} is not a column of {entity!r}; "
                                f"columns are {ENTITIES[entity].column_names}")
        partition = self.partition(f"{where}.partition", spec.get("partition"))
        features = self.features(f"{where}.features", entity, spec.get("features"))
        return FileMapping(i, path, fmt, entity, columns, timestamp, csv, event_map, bool_map, tuple(ids),
                           partition, wide, features)

    def wide(self, where: str, spec: Any) -> WideSpec | None:
        if spec is None:
            return None
        spec = self.keys(where, spec, WIDE_KEYS, {"columns"})
        pattern = self.text(f"{where}.columns", spec["columns"])
        try:
            groups = re.compile(pattern).groups
        except re.error as exc:
            raise self.fail(f"{where}.columns", f"invalid regular expression: {exc}") from None
        start = self.partition(f"{where}.start_date", spec.get("start_date"))
        fmt = spec.get("date_format")
        if groups == 1 and start is None:
            raise self.fail(f"{where}.start_date", f"{pattern!r} captures the day number: give start_date, "
                            "the date of day number start_number (default 1)")
        if groups == 0 and not fmt:
            raise self.fail(f"{where}.date_format", f"{pattern!r} captures no day number (e.g. '^d_(\\d+)$'): "
                            "then the column names must be dates; give date_format (e.g. '%Y-%m-%d')")
        if groups > 1:
            raise self.fail(f"{where}.columns", f"{pattern!r} has {groups} groups; use one (the day number) or none")
        number = spec.get("start_number", 1)
        if isinstance(number, bool) or not isinstance(number, int):
            raise self.fail(f"{where}.start_number", f"expected an integer, got {number!r}")
        return WideSpec(pattern, self.text(f"{where}.value", spec.get("value", "value")),
                        self.text(f"{where}.day", spec.get("day", "day")), start, number,
                        str(fmt) if fmt and groups == 0 else None)

    def features(self, where: str, entity: str, spec: Any) -> dict[str, FeatureSpec]:
        """``{name: numeric|categorical}`` or ``{name: {column: Src, type: numeric}}``; names PII-checked."""
        if spec is None:
            return {}
        if entity not in EXTRA_FEATURE_ENTITIES:
            raise self.fail(where, f"entity {entity!r} takes no extra features; they go on "
                            f"{list(EXTRA_FEATURE_ENTITIES)}")
        if not isinstance(spec, dict) or not spec:
            raise self.fail(where, "expected a mapping feature name -> numeric | categorical")
        out: dict[str, FeatureSpec] = {}
        for name, value in spec.items():
            key = f"{where}.{name}"
            name = str(name)
            if not _FEATURE_NAME.fullmatch(name):
                raise self.fail(key, f"feature name {name!r}: use letters, digits and '_' (starting with a letter)")
            if isinstance(value, str):
                value = {"type": value}
            value = self.keys(key, value, {"column", "type"}, {"type"})
            column = self.text(f"{key}.column", value.get("column", name))
            for label, candidate in (("name", name), ("source column", column)):
                if looks_like_pii_name(candidate):
                    raise self.fail(key, f"{label} {candidate!r} looks like personal data (e-mail, phone, card, IP, "
                                    "name, address ...): personal data is never a model feature. Map e-mail, "
                                    "name, IP or card number to their canonical columns (hashed), or leave the "
                                    "column out")
            type_ = value["type"]
            if type_ not in EXTRA_FEATURE_TYPES:
                raise self.fail(f"{key}.type", f"unknown feature type {type_!r}"
                                f"{did_you_mean(str(type_), EXTRA_FEATURE_TYPES)}; use one of "
                                f"{list(EXTRA_FEATURE_TYPES)}")
            out[name] = FeatureSpec(column, type_)
        return out

    def partition(self, where: str, value: Any) -> date | None:
        """A daily drop's day: YAML reads an unquoted 2025-03-10 as a date, a quoted one as text."""
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(where, f"expected a day YYYY-MM-DD, got {value!r}") from None

    def csv_options(self, where: str, spec: Any) -> CsvOptions:
        spec = self.keys(where, spec, CSV_KEYS)
        header = spec.get("header", True)
        if not isinstance(header, bool):
            raise self.fail(f"{where}.header", f"expected true or false, got {header!r}")
        names = spec.get("names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise self.fail(f"{where}.names", "expected a list of column names")
        delimiter = self.text(f"{where}.delimiter", spec.get("delimiter", ","))
        if len(delimiter) != 1 and delimiter != r"\t":
            raise self.fail(f"{where}.delimiter", f"expected one character, got {delimiter!r}")
        encoding = self.text(f"{where}.encoding", spec.get("encoding", "utf-8"))
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise self.fail(f"{where}.encoding", f"unknown encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)") from None
        return CsvOptions("\t" if delimiter == r"\t" else delimiter, encoding, header,
                          tuple(names) if names else None, self.text(f"{where}.quotechar", spec.get("quotechar", '"')))

    def timestamp(self, where: str, spec: Any) -> TimestampSpec:
        if isinstance(spec, str):
            spec = {"column": spec}
        spec = self.keys(where, spec, TIMESTAMP_KEYS, {"column"})
        fmt = str(spec.get("format") or "iso8601")
        if fmt not in SPECIAL_TIME_FORMATS and "%" not in fmt:
            raise self.fail(f"{where}.format", f"{fmt!r} is neither a strftime format (e.g. '%Y-%m-%d %H:%M:%S') "
                            f"nor one of {list(SPECIAL_TIME_FORMATS)}")
        year = spec.get("default_year")
        needs_year = fmt == "month_name" or ("%" in fmt and not re.search(r"%[Yy]", fmt))
        if needs_year and not isinstance(year, int):
            raise self.fail(f"{where}.default_year", f"format {fmt!r} has no year; give default_year (an integer)")
        day = spec.get("default_day", 1)
        if not isinstance(day, int) or not 1 <= day <= 28:
            raise self.fail(f"{where}.default_day", f"expected an integer 1..28, got {day!r}")
        tz = spec.get("timezone")
        if tz is not None:
            import zoneinfo

            try:
                zoneinfo.ZoneInfo(str(tz))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise self.fail(f"{where}.timezone", f"unknown time zone {tz!r} (use an IANA name)") from None
        origin = spec.get("origin")
        if origin is not None:
            if fmt not in EPOCH_UNITS:
                raise self.fail(f"{where}.origin", f"origin applies to the {'/'.join(EPOCH_UNITS)} formats, "
                                f"not {fmt!r}")
            try:
                origin = datetime.fromisoformat(str(origin))
            except ValueError:
                raise self.fail(f"{where}.origin", f"expected a date or time (2013-09-01 or 2013-09-01T00:00:00), "
                                f"got {origin!r}") from None
        return TimestampSpec(self.text(f"{where}.column", spec["column"]), fmt, year, day, tz, origin)

    def columns(self, where: str, entity: str, spec: Any) -> dict[str, ColumnSpec]:
        if not isinstance(spec, dict) or not spec:
            raise self.fail(where, "expected a mapping canonical column -> source column or spec")
        schema = ENTITIES[entity]
        allowed = ((set(schema.column_names) - set(LOADER_FILLED.get(entity, ())))
                   | set(PII_BY_ENTITY.get(entity, ())) | set(CARRIED.get(entity, ())))
        out: dict[str, ColumnSpec] = {}
        for canonical, value in spec.items():
            key = f"{where}.{canonical}"
            if canonical in LOADER_FILLED.get(entity, ()):
                hint = ("declare shop signals under `features:` on the file" if canonical == "extra_features"
                        else "the loader sets it from 'amount'")
                raise self.fail(key, f"{canonical!r} is filled by the loader, not mapped: {hint}")
            if canonical == schema.time_column:
                raise self.fail(key, f"{canonical!r} is the time column of {entity!r}; map it under 'timestamp'")
            if canonical in PII_SOURCE_COLUMNS.values():
                raise self.fail(key, f"map the clear value to {_clear_name(canonical)!r}; ingestion hashes it")
            if canonical not in allowed:
                choices = sorted(allowed - {schema.time_column})
                raise self.fail(key, f"unknown canonical column {canonical!r} for entity {entity!r}"
                                f"{did_you_mean(canonical, choices)}; columns are {choices}")
            out[canonical] = self.column_spec(key, value)
        # events.session_id may be derived (checked with the top-level `sessions:` setting).
        missing = [c for c in schema.required if c not in out and c != schema.time_column
                   and (entity, c) != ("events", "session_id")]
        if missing:
            raise self.fail(where, f"required column(s) {missing} of {entity!r} are not mapped "
                            "(map a source column, a constant or a row_number)")
        return out

    def column_spec(self, where: str, value: Any) -> ColumnSpec:
        if isinstance(value, str):
            return ColumnSpec("column", (value,))
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a source column name or one of {list(COLUMN_SPEC_KINDS)}, got {value!r}")
        kinds = [k for k in COLUMN_SPEC_KINDS if k in value]
        if len(kinds) != 1:
            raise self.fail(where, f"give exactly one of {list(COLUMN_SPEC_KINDS)}, got keys {sorted(map(str, value))}")
        kind = kinds[0]
        extra_allowed = {"column": {"matches"}, "row_number": {"prefix", "within"}}.get(kind, set())
        self.keys(where, value, {kind} | extra_allowed)
        if kind == "column":
            matches = value.get("matches")
            if matches is not None:
                try:
                    re.compile(matches)
                except re.error as exc:
                    raise self.fail(f"{where}.matches", f"invalid regular expression: {exc}") from None
            return ColumnSpec("column", (self.text(f"{where}.column", value["column"]),), matches=matches)
        if kind == "constant":
            return ColumnSpec("constant", constant=value["constant"])
        if kind == "row_number":
            within = value.get("within") or []
            if not isinstance(within, list):
                raise self.fail(f"{where}.within", "expected a list of source columns")
            return ColumnSpec("row_number", tuple(within), prefix=str(value.get("prefix", "")))
        if kind == "sum":
            cols = value["sum"]
            if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
                raise self.fail(f"{where}.sum", "expected a non-empty list of source columns")
            return ColumnSpec("sum", tuple(cols))
        template = self.text(f"{where}.template", value["template"])
        fields = tuple(_TEMPLATE_FIELD.findall(template))
        if not fields:
            raise self.fail(f"{where}.template", "a template needs at least one {SourceColumn} field")
        return ColumnSpec("template", fields, template=template)

    def event_type_map(self, where: str, entity: str, spec: Any) -> dict[str, str]:
        if not spec:
            return {}
        if "event_type" not in ENTITIES[entity].column_names:
            raise self.fail(where, f"entity {entity!r} has no event_type column")
        if not isinstance(spec, dict):
            raise self.fail(where, "expected a mapping source value -> canonical event type, or canonical event "
                            "type -> [source values]")
        out: dict[str, str] = {}
        for key, target in spec.items():
            if key == "ignore":  # ignore: [remove_from_cart] - quarantined as declared, not as bad input
                if not isinstance(target, list) or not target:
                    raise self.fail(f"{where}.ignore", "expected a list of source values no event type covers")
                pairs = [(str(v), IGNORED_VALUE_PREFIX + str(v)) for v in target]
            elif isinstance(target, list):  # purchase: [buy, order, checkout]
                if key not in EVENT_TYPES:
                    raise self.fail(f"{where}.{key}", f"{key!r} is not an event type{did_you_mean(str(key), EVENT_TYPES)}"
                                    f"; with a list of source values the key is the canonical type, one of "
                                    f"{list(EVENT_TYPES)}, or `ignore`")
                pairs = [(str(v), str(key)) for v in target]
                if not pairs:
                    raise self.fail(f"{where}.{key}", "expected at least one source value")
            elif isinstance(target, str) and target in EVENT_TYPES:
                pairs = [(str(key), target)]
            else:
                raise self.fail(f"{where}.{key}", f"{target!r} is not an event type"
                                f"{did_you_mean(str(target), EVENT_TYPES)}; use one of {list(EVENT_TYPES)} "
                                "(or a list of source values under a canonical type)")
            for source_value, canonical in pairs:
                if out.get(source_value, canonical) != canonical:
                    def shown(target: str) -> str:
                        return "ignore" if target.startswith(IGNORED_VALUE_PREFIX) else target
                    raise self.fail(f"{where}.{key}", f"source value {source_value!r} is mapped to both "
                                    f"{shown(out[source_value])!r} and {shown(canonical)!r}")
                out[source_value] = canonical
        return out

    def boolean_map(self, where: str, spec: Any) -> dict[str, bool]:
        if not isinstance(spec, dict):
            raise self.fail(where, "expected a mapping source value -> true/false")
        for source_value, target in spec.items():
            if not isinstance(target, bool):
                raise self.fail(f"{where}.{source_value}", f"expected true or false, got {target!r}")
        # YAML reads an unquoted TRUE key as a boolean; compare as lower-case text either way.
        return {str(k).strip().lower(): v for k, v in spec.items()}


def _guess_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".tsv" in suffixes or ".txt" in suffixes:
        return "csv"
    return f"<cannot tell from {path.name!r}; set format>"


def _clear_name(hash_column: str) -> str:
    return next(k for k, v in PII_SOURCE_COLUMNS.items() if v == hash_column)
