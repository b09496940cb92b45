"""Errors that reject a whole file or partition, worded for the person who must fix the file.

Row problems never raise: the row is quarantined with a reason and the rest loads.
These errors are for problems that make every row of a file untrustworthy (a missing
column, an undeclared encoding, a cut Parquet file, an empty file). Each message
starts like a compiler error, ``<file>: line <n>, column '<c>': <reason>``, because the
reader has the file open in an editor and needs to jump to the spot; the same parts
are attributes for code (tests, the Airflow log) that wants them separately.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


def location(file: str | Path | None, line: int | None = None, column: str | None = None,
             byte_offset: int | None = None, row: int | None = None) -> str:
    """``file: line 4 (byte offset 97), column 'query'`` with the parts that are known.

    ``line`` is the 1-based physical line of a text file (the header is line 1);
    ``row`` is the 1-based data row, for files without lines (Parquet).
    """
    parts = [str(file) if file is not None else "<unknown file>"]
    spot = []
    if line is not None:
        spot.append(f"line {line}" + (f" (byte offset {byte_offset})" if byte_offset is not None else ""))
    elif row is not None:
        spot.append(f"row {row}")
    if column is not None:
        spot.append(f"column {column!r}")
    return parts[0] + (": " + ", ".join(spot) if spot else "")


class BadInputError(ValueError):
    """A file or partition that cannot be loaded at all; nothing of it is published."""

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 column: str | None = None) -> None:
        super().__init__(message)
        self.file = str(file) if file is not None else None
        self.line = line
        self.column = column


class SchemaError(BadInputError):
    """The file's columns do not fit: a required column is missing or renamed, or named twice."""


class UnreadableFileError(BadInputError):
    """The file's bytes cannot be read as declared: empty, wrong encoding, cut or not Parquet."""


def close_match(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (case-insensitive), or None when nothing is close.

    A renamed column or a typo'd key is the most common cause of a "not found" error,
    and naming the likely intended spelling saves the reader a diff of two lists.
    """
    by_lower = {str(c).lower(): str(c) for c in candidates}
    match = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'format'?)`` for the closest candidate, else ``""``."""
    match = close_match(word, candidates)
    return f" (did you mean {match!r}?)" if match else ""
