"""PostgreSQL writes go through COPY with a CSV rendered by Arrow (tasks.warehouse.io._arrow_csv).

The values that CSV can confuse must arrive exactly as written: an empty string is not NULL,
text that looks like a NULL marker stays text, quotes/commas/newlines survive, missing floats,
integers and booleans become NULL. Frames Arrow cannot convert (mixed-type objects) and
tz-aware timestamps take the pandas path and still load.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tasks.warehouse import read_frame, replace_partition
from tasks.warehouse.io import _arrow_csv

DAY = date(2024, 3, 1)


@pytest.mark.postgres
def test_copy_keeps_empty_strings_nulls_and_special_text_apart(postgres_home: str) -> None:
    frame = pd.DataFrame({
        "dt": [DAY] * 6,
        "s": ["", None, "\\N", 'a"b,c', "line\nbreak", "NULL"],
        "f": [1.5, np.nan, math.inf, 0.1 + 0.2, None, -2.0],
        "i": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
        "b": [True, False, None, True, False, True],
        "ts": pd.to_datetime(["2024-03-01 01:02:03.123456", None] + ["2024-03-01 00:00:00.000000"] * 4),
    })
    assert _arrow_csv(frame) is not None  # this frame takes the Arrow path
    replace_partition("raw.copy_probe", frame, {"dt": DAY})
    got = read_frame("SELECT s, s IS NULL AS s_null, f, i, b, ts FROM raw.copy_probe")
    assert got["s"].tolist() == ["", None, "\\N", 'a"b,c', "line\nbreak", "NULL"]
    assert got["s_null"].tolist() == [False, True, False, False, False, False]
    f = got["f"].tolist()
    assert f[0] == 1.5 and math.isinf(f[2]) and f[3] == 0.1 + 0.2 and f[5] == -2.0  # exact round trip
    assert f[1] is None or math.isnan(f[1])
    assert f[4] is None or math.isnan(f[4])
    assert [None if pd.isna(v) else int(v) for v in got["i"]] == [1, None, 3, 4, 5, 6]
    assert got["b"].tolist() == [True, False, None, True, False, True]
    assert pd.Timestamp(got["ts"][0]) == pd.Timestamp("2024-03-01 01:02:03.123456")
    assert pd.isna(got["ts"][1])


@pytest.mark.postgres
def test_frames_arrow_cannot_render_take_the_pandas_path(postgres_home: str) -> None:
    mixed = pd.DataFrame({"dt": [DAY, DAY], "o": [1, "x"]})
    aware = pd.DataFrame({"dt": [DAY], "at": pd.to_datetime(["2024-03-01 10:00"]).tz_localize("Europe/Berlin")})
    assert _arrow_csv(mixed) is None and _arrow_csv(aware) is None
    replace_partition("raw.mixed_probe", mixed, {"dt": DAY})
    replace_partition("raw.aware_probe", aware, {"dt": DAY})
    assert read_frame("SELECT o FROM raw.mixed_probe ORDER BY o")["o"].tolist() == ["1", "x"]
    assert len(read_frame("SELECT at FROM raw.aware_probe")) == 1
