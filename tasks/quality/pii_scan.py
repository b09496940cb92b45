"""Find personal data that escaped hashing in the warehouse (and the lake).

Ingestion hashes e-mails, names, IPs and card numbers (``tasks/ingest/pii.py``),
but any later step - a dbt model, a Spark feature job, a scorer, or a mapping
file that maps ``user_id`` from an e-mail column - can copy a clear value
downstream. Checking the code paths one by one does not prove the outputs are
clean, so this module looks at what actually landed:

* **known raw values**: the clear values the source handed to ingestion
  (``raw_pii_values``), found as a whole value or as a run of words inside a
  longer text (a JSON payload, a search query);
* **patterns**: e-mail addresses, Luhn-valid 13-19 digit card numbers starting
  2-6 (the card networks' ranges) and dotted IPv4 addresses, in text columns.

``scan_pii`` returns findings; ``assert_no_pii`` raises ``PiiLeakError`` naming
every ``schema.table.column`` with a masked example, so the error itself never
repeats the personal data it reports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tasks.ingest.schema import PII_SOURCE_COLUMNS

if TYPE_CHECKING:
    from tasks.ingest.sources.base import Source

log = logging.getLogger(__name__)

# Layers BI and models read; ingestion's own schemas (raw, audit) are added by callers that want them.
DEFAULT_SCHEMAS = ("features", "serving", "marts", "ml")
# Every schema the pipeline writes (DESIGN.md), for an end-to-end sweep.
PIPELINE_SCHEMAS = ("raw", "staging", "intermediate", "marts", "features", "ml", "serving", "monitoring",
                    "audit")
LAKE_ZONES = ("landing", "raw", "compacted", "features")

KIND_RAW = "raw_value"
KIND_EMAIL = "email"
KIND_CARD = "card_number"
KIND_IPV4 = "ipv4"

# Shorter known values ("Li Na") would match ordinary words in product text.
MIN_RAW_VALUE_LENGTH = 5
_FETCH_ROWS = 10_000

_WORD = re.compile(r"[\w@.+'-]+")
_WORD_EDGES = ".'+-"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Digits may be grouped by spaces or dashes; not part of a longer word or decimal number.
CARD = re.compile(r"(?<![\w.])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w]|\.\d)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")

# information_schema / format_type spellings of the column types worth reading.
_TEXT_TYPES = ("char", "text", "string", "json", "[]", "array", "struct", "map(", "union", "user-defined")
_INTEGER_TYPES = ("int", "numeric", "decimal")


@dataclass(frozen=True)
class PiiFinding:
    """Clear personal data in one column: what kind, how many distinct values, a masked example."""

    table: str  # schema.table (or lake zone.dataset)
    column: str
    kind: str  # KIND_RAW, KIND_EMAIL, KIND_CARD or KIND_IPV4
    example: str  # masked: enough to find the row, not enough to read the value
    n_values: int  # distinct column values with this kind of match

    @property
    def location(self) -> str:
        return f"{self.table}.{self.column}"

    def __str__(self) -> str:
        return f"{self.location}: {self.kind} in {self.n_values} distinct value(s), e.g. {self.example!r}"


class PiiLeakError(RuntimeError):
    """Clear personal data was found where only hashes may be."""

    def __init__(self, findings: list[PiiFinding], scanned: str) -> None:
        self.findings = findings
        lines = "\n".join(f"  - {f}" for f in findings)
        n_columns = len({f.location for f in findings})
        super().__init__(
            f"clear personal data found in {n_columns} column(s) of {scanned}:\n{lines}\n"
            "Hash it at ingestion (tasks/ingest/pii.py) or stop the model/feature that copies it."
        )


class NothingScannedError(RuntimeError):
    """The scan found (almost) no tables, so a pass would prove nothing."""


def mask(value: str) -> str:
    """Keep the first and last two characters so an engineer can find the row, hide the rest."""
    text = str(value)
    if len(text) <= 4:
        return "*" * len(text)
    return f"{text[:2]}{'*' * min(len(text) - 4, 12)}{text[-2:]}"


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies (cuts random-number matches by 90%)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _words(text: str) -> list[str]:
    return [w for w in (m.strip(_WORD_EDGES) for m in _WORD.findall(text.lower())) if w]


def normalise(value: object) -> str:
    """Lower-case words joined by one space, so 'Ann  SMITH' in a payload matches 'ann smith'."""
    return " ".join(_words(str(value)))


class _KnownValues:
    """Known clear values, matched as a whole or as consecutive words of a longer text."""

    def __init__(self, values: Iterable[object]) -> None:
        self.values: set[str] = set()
        for value in values:
            if value is None:
                continue
            text = normalise(value)
            if len(text) < MIN_RAW_VALUE_LENGTH:
                continue
            self.values.add(text)
            compact = re.sub(r"[ -]", "", str(value))
            if compact.isdigit():  # a card number written "4000 0000 ..." is also stored without spaces
                self.values.add(compact)
        self.lengths = sorted({v.count(" ") + 1 for v in self.values})

    def find(self, text: str) -> str | None:
        if not self.values:
            return None
        words = _words(text)
        for n in self.lengths:
            for i in range(len(words) - n + 1):
                candidate = " ".join(words[i:i + n])
                if candidate in self.values:
                    return candidate
        return None


def _card_grouping(match: str) -> bool:
    """A card number is written as one run of digits or in groups of 3-6 (4-4-4-4, 4-6-5, ...).

    Why: a date followed by digits ("2026-03-02-29444362", a model version: date plus the
    first 8 hex digits of a fingerprint) fits the bare pattern and passes Luhn one time in ten;
    it flaked the end-to-end PII sweep on ml.model_registry and every model_version column.
    """
    groups = re.split(r"[ -]", match)
    return len(groups) == 1 or all(3 <= len(g) <= 6 for g in groups)


def pattern_matches(text: str) -> dict[str, str]:
    """The first e-mail, card number and IPv4 address in ``text`` (kind -> matched text)."""
    found: dict[str, str] = {}
    if "@" in text:
        email = EMAIL.search(text)
        if email:
            found[KIND_EMAIL] = email.group(0)
    for card in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", card.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits) and _card_grouping(card.group(0)):
            found[KIND_CARD] = card.group(0)
            break
    if "." in text:
        ip = IPV4.search(text)
        if ip:
            found[KIND_IPV4] = ip.group(0)
    return found


def _quote_catalog_name(name: str) -> str:
    """Quote a name read from the catalogue (not user input) by doubling embedded quotes.

    ``identifiers.quote_ident`` rejects anything outside ``[A-Za-z0-9_]``, which is
    right for names built from user input but would make the scan crash (and so
    skip the rest) on a legitimately odd table name someone created by hand. The
    colon is escaped because the result goes into ``sa.text``, where ``:x`` is a
    bind parameter.
    """
    return '"' + name.replace('"', '""').replace(":", "\\:") + '"'


@dataclass(frozen=True)
class _Column:
    schema: str
    table: str
    column: str
    data_type: str

    @property
    def text_like(self) -> bool:
        return any(t in self.data_type for t in _TEXT_TYPES)

    @property
    def integer_like(self) -> bool:
        return any(t in self.data_type for t in _INTEGER_TYPES)


def _columns(conn: sa.Connection, schemas: tuple[str, ...]) -> list[_Column]:
    """Columns of every table and view (PostgreSQL: materialized views too) in ``schemas``."""
    names = {f"s{i}": s for i, s in enumerate(schemas)}
    in_list = ", ".join(f":{k}" for k in names)
    rows = conn.execute(sa.text(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema IN ({in_list}) ORDER BY table_schema, table_name, ordinal_position"
    ), names).fetchall()
    if conn.dialect.name == "postgresql":
        # information_schema leaves materialized views out.
        rows += conn.execute(sa.text(
            "SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE c.relkind = 'm' AND a.attnum > 0 AND NOT a.attisdropped AND n.nspname IN ({in_list}) "
            "ORDER BY n.nspname, c.relname, a.attnum"
        ), names).fetchall()
    return [_Column(s, t, c, str(d).lower()) for s, t, c, d in rows]


def _distinct_text(conn: sa.Connection, col: _Column) -> Iterator[str]:
    table = f"{_quote_catalog_name(col.schema)}.{_quote_catalog_name(col.table)}"
    column = _quote_catalog_name(col.column)
    # Streamed: a marts column can hold millions of distinct ids.
    result = conn.execute(sa.text(
        f"SELECT DISTINCT CAST({column} AS VARCHAR) FROM {table} WHERE {column} IS NOT NULL"
    ).execution_options(stream_results=True, max_row_buffer=_FETCH_ROWS))
    while rows := result.fetchmany(_FETCH_ROWS):
        for (value,) in rows:
            yield str(value)


def _scan_column(conn: sa.Connection, col: _Column, known: _KnownValues,
                 patterns: bool) -> list[PiiFinding]:
    examples: dict[str, str] = {}
    counts: dict[str, int] = {}
    for value in _distinct_text(conn, col):
        hits: dict[str, str] = {}
        raw = known.find(value)
        if raw is not None:
            hits[KIND_RAW] = raw
        if patterns:
            hits.update(pattern_matches(value))
        for kind, text in hits.items():
            counts[kind] = counts.get(kind, 0) + 1
            examples.setdefault(kind, mask(text))
    where = f"{col.schema}.{col.table}"
    return [PiiFinding(where, col.column, kind, examples[kind], counts[kind]) for kind in sorted(counts)]


def _scan(conn: sa.Connection, raw_values: Iterable[object], schemas: Iterable[str],
          allow: Mapping[str, str] | None) -> tuple[list[PiiFinding], int]:
    schemas = tuple(dict.fromkeys(schemas))
    known = _KnownValues(raw_values)
    allow = dict(allow or {})
    columns = _columns(conn, schemas)
    findings: list[PiiFinding] = []
    for col in columns:
        if not (col.text_like or col.integer_like):
            continue  # floats, timestamps, dates, booleans cannot hold an e-mail, IP or card number
        location = f"{col.schema}.{col.table}.{col.column}"
        # An allow-listed column is exempt from the pattern checks only: a known raw value is never fine.
        patterns = col.text_like and location not in allow
        try:
            findings += _scan_column(conn, col, known, patterns)
        except sa.exc.DBAPIError as exc:
            raise RuntimeError(f"PII scan could not read {location}: {exc.orig}") from exc
    n_tables = len({(c.schema, c.table) for c in columns})
    log.info("PII scan: %d column(s) of %d table(s)/view(s) in schemas %s, %d known raw value(s): "
             "%d finding(s)", len(columns), n_tables, list(schemas), len(known.values), len(findings))
    return findings, n_tables


def scan_pii(conn: sa.Connection, raw_values: Iterable[object] = (),
             schemas: Iterable[str] = DEFAULT_SCHEMAS,
             allow: Mapping[str, str] | None = None) -> list[PiiFinding]:
    """Every column of every table/view in ``schemas`` holding clear personal data.

    ``raw_values``: clear values known to be in the input (``raw_pii_values``).
    ``allow``: ``{"schema.table.column": "why it is not personal data"}`` for a
    column whose legitimate values look like a pattern (say a dotted version
    number); it still fails on a known raw value.
    """
    return _scan(conn, raw_values, schemas, allow)[0]


def assert_no_pii(conn: sa.Connection, raw_values: Iterable[object] = (),
                  schemas: Iterable[str] = DEFAULT_SCHEMAS,
                  allow: Mapping[str, str] | None = None, min_tables: int = 1) -> None:
    """Raise ``PiiLeakError`` when ``scan_pii`` finds anything.

    Also raises when fewer than ``min_tables`` tables/views were scanned: a
    renamed schema must not turn the check into a silent pass.
    """
    schemas = tuple(schemas)
    findings, n_tables = _scan(conn, raw_values, schemas, allow)
    if findings:
        raise PiiLeakError(findings, f"schemas {list(schemas)}")
    if n_tables < min_tables:
        raise NothingScannedError(
            f"PII scan found only {n_tables} table(s)/view(s) in schemas {list(schemas)} "
            f"(expected at least {min_tables}): are the schema names right?")


def lake_engine(lake_root: Path, zones: Iterable[str] = LAKE_ZONES) -> sa.Engine:
    """An in-memory DuckDB with one view per lake dataset (``<zone>.<dataset>``).

    The landing copy and Spark's feature files never pass through the warehouse,
    so the same scan is pointed at them through DuckDB's Parquet reader.
    """
    engine = sa.create_engine("duckdb:///:memory:", poolclass=sa.pool.StaticPool)
    for zone in zones:
        zone_dir = Path(lake_root) / zone
        entries = sorted(zone_dir.iterdir()) if zone_dir.is_dir() else []
        for entry in entries:
            if entry.is_dir() and any(entry.rglob("*.parquet")):  # a partitioned dataset
                name, glob = entry.name, entry / "**" / "*.parquet"
            elif entry.is_file() and entry.suffix == ".parquet":  # one file (e.g. a source cache)
                name, glob = entry.name.removesuffix(".parquet"), entry
            else:
                continue
            literal = str(glob).replace("'", "''").replace(":", "\\:")  # see _quote_catalog_name
            view = f"{_quote_catalog_name(zone)}.{_quote_catalog_name(name)}"
            for hive in ("true", "false"):
                try:
                    with engine.begin() as conn:
                        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {_quote_catalog_name(zone)}"))
                        conn.execute(sa.text(
                            f"CREATE VIEW {view} AS SELECT * FROM read_parquet("
                            f"'{literal}', hive_partitioning = {hive}, union_by_name = true)"))
                    break
                except sa.exc.DBAPIError:
                    if hive == "false":
                        raise
                    # Folder keys that clash with a column in the files: the files' own columns suffice.
    return engine


def scan_lake(lake_root: Path, raw_values: Iterable[object] = (), zones: Iterable[str] = LAKE_ZONES,
              allow: Mapping[str, str] | None = None) -> list[PiiFinding]:
    """``scan_pii`` over the Parquet datasets of the lake (tables are named ``zone.dataset``)."""
    zones = tuple(zones)
    engine = lake_engine(lake_root, zones)
    try:
        with engine.connect() as conn:
            return scan_pii(conn, raw_values, zones, allow)
    finally:
        engine.dispose()


def raw_pii_values(source: Source, entities: Iterable[str] | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> set[str]:
    """The clear PII values ``source`` hands to ingestion (before hashing), for ``scan_pii``.

    Reads the clear columns of ``PII_SOURCE_COLUMNS`` (email, name, ip, card
    number) from every entity that can carry them, over ``[start, end)`` or the
    source's whole coverage, plus the rows whose time could not be parsed (they
    are quarantined, so they must not appear in clear either).
    """
    from tasks.ingest.sources.base import PII_BY_ENTITY

    wanted = list(entities) if entities is not None else [e for e in source.entities() if e in PII_BY_ENTITY]
    values: set[str] = set()
    for entity in wanted:
        frames = [source.unparseable(entity)]
        if start is None or end is None:
            try:
                first, last = source.coverage(entity)
            except ValueError:  # no parseable rows at all: only the unparseable ones can carry PII
                first = last = None
            if first is not None:
                frames.append(source.read(entity, start or first, end or last + timedelta(microseconds=1)))
        else:
            frames.append(source.read(entity, start, end))
        for frame in frames:
            for column in frame.columns.intersection(list(PII_SOURCE_COLUMNS)):
                values.update(str(v) for v in frame[column].dropna() if str(v).strip())
    return values
