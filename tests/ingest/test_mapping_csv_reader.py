"""How the mapping source reads a CSV: exact line numbers and structural damage, row by row.

A quarantine row or an error is only useful if the line it names is the line an editor
shows, so these cases pin the reader on files where "data row + 1" is wrong (values
spanning lines, blank lines, CRLF) and on damage that pandas would silently absorb
(short rows padded with nulls, a quote left open at the end of a cut file).
"""

from __future__ import annotations

import gzip
import logging
import textwrap
from pathlib import Path

import pytest

from tasks.ingest.errors import SchemaError, UnreadableFileError
from tasks.ingest.sources.base import SOURCE_ERROR, SOURCE_LINE, SOURCE_ROW
from tasks.ingest.sources.mapping import read_data_file
from tasks.ingest.sources.mapping_config import load_mapping

MAPPING = """\
source_name: reader
files:
  - path: {name}
    entity: sessions
    timestamp: {{column: ts, format: "%Y-%m-%d %H:%M:%S"}}
    columns: {{session_id: id, visitor_type: note}}
"""


def _read(tmp_path: Path, data: bytes, name: str = "s.csv"):
    (tmp_path / name).write_bytes(data)
    mapping_file = tmp_path / "m.yml"
    mapping_file.write_text(MAPPING.format(name=name))
    mapping = load_mapping(mapping_file)
    return read_data_file(mapping.files[0], mapping.mapping_file)


def test_lines_follow_the_file_not_the_row_count(tmp_path: Path) -> None:
    data = textwrap.dedent('''\
        id,note,ts
        a,"two
        lines",2024-01-01 00:00:00

        b,plain,2024-01-01 00:00:01
        c,"say ""hi""",2024-01-01 00:00:02
        ''').replace("\n", "\r\n").encode()
    frame = _read(tmp_path, data)
    assert frame[SOURCE_ROW].tolist() == [1, 2, 3]
    assert frame[SOURCE_LINE].tolist() == [2, 5, 6]  # line 4 is blank, line 3 continues row 1
    assert frame["note"].tolist() == ["two\r\nlines", "plain", 'say "hi"']
    assert frame[SOURCE_ERROR].isna().all()


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    frame = _read(tmp_path, "\ufeffid,note,ts\nx,y,2024-01-01 00:00:00\n".encode())
    assert "id" in frame.columns and frame["id"].tolist() == ["x"]


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("a,1,2024-01-01 00:00:00\nb,2\nc,3,2024-01-01 00:00:02\n", 3,
         "line 3: 2 field(s) where the header has 3: values missing at the end of the line"),
        ("a,1,2024-01-01 00:00:00\nb,2,3,2024-01-01 00:00:01\n", 3,
         "line 3: 4 fields where the header has 3: a value containing ',' without quotes?"),
        ("a,1,2024-01-01 00:00:00\nb,2", 3, "line 3: the file ends inside this row (2 of 3 fields, no final line "
         "break): the file looks cut off"),
        ('a,1,2024-01-01 00:00:00\nb,"never closed,2024-01-01 00:00:01', 3,
         "line 3: the file ends inside a quoted value of this row"),
    ],
    ids=["short", "long", "cut-mid-row", "cut-inside-quotes"],
)
def test_damaged_lines_are_flagged_with_their_line(tmp_path: Path, body: str, line: int, reason: str) -> None:
    frame = _read(tmp_path, f"id,note,ts\n{body}".encode()).set_index(SOURCE_LINE)
    flagged = frame[frame[SOURCE_ERROR].notna()]
    assert flagged.index.tolist() == [line]
    assert reason in flagged.loc[line, SOURCE_ERROR]
    assert len(frame) == body.count("\n") + (0 if body.endswith("\n") else 1)  # damaged rows are kept, not dropped


def test_a_complete_last_line_without_line_break_only_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tasks.ingest.sources.mapping"):
        frame = _read(tmp_path, b"id,note,ts\na,1,2024-01-01 00:00:00")
    assert frame[SOURCE_ERROR].isna().all()
    assert "no line break after the last line (2)" in caplog.text


def test_a_header_naming_a_column_twice_rejects_the_file(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"s\.csv: line 1, column 'note': the header names this column twice "
                                          r"\(fields 2 and 3\)"):
        _read(tmp_path, b"id,note,note,ts\na,1,2,2024-01-01 00:00:00\n")


def test_a_cut_gzip_file_is_rejected_naming_it(tmp_path: Path) -> None:
    whole = gzip.compress(b"id,note,ts\n" + b"a,1,2024-01-01 00:00:00\n" * 200)
    with pytest.raises(UnreadableFileError, match=r"s\.csv\.gz: cannot decompress the file .*cut off"):
        _read(tmp_path, whole[: len(whole) // 2], name="s.csv.gz")
