"""``write_serving`` types a scorer's frame once into an Arrow table (``check_table``) and inserts
that table; the rows and column types it stores must be exactly those of the path before
(pandas per-column typing, then the pandas frame inserted), on DuckDB and on PostgreSQL.

The reference is the typing code as it was before the Arrow path (``_pandas_typed``, kept
here verbatim) written through ``replace_partition`` as a pandas frame, the path every other
writer still takes. The frames hold what scorers hand over: Python ``str``/``date``/
``datetime`` objects, numbers as text, None and NaN in nullable columns, float ranks, datetime64
dates. A bad value still raises ``ServingContractError`` naming table and column, before
anything is written; a failure inside the write leaves the previous partition readable.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from tasks.score.common import SERVING_SCHEMAS, write_serving
from tasks.score.schema import ServingContractError, check_table, table
from tasks.warehouse import connect, read_frame, replace_partition

D = date(2026, 1, 15)
HOUR = datetime(2026, 1, 15, 10)


def _pandas_typed(values: pd.Series, type_: str) -> pd.Series:
    """The per-column typing ``check_frame`` did before the Arrow path (verbatim, less its checks)."""
    if type_ == "timestamp":
        return pd.to_datetime(values)
    if type_ == "float":
        return pd.to_numeric(values).astype(float)
    if type_ == "int":
        return pd.to_numeric(values).astype("int64")
    if type_ == "date":
        pd.to_datetime(values)
        return values
    if type_ == "bool":
        return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else bool(v))
    return values.astype(object).where(values.notna(), None)


def _pandas_path(qualified: str, frame: pd.DataFrame) -> pd.DataFrame:
    spec = table(qualified)
    out = frame[spec.column_names].copy()
    for column in spec.all_columns:
        out[column.name] = _pandas_typed(out[column.name], column.type)
    return out.reset_index(drop=True)


def _recommendations(n_users: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    k = 4
    return pd.DataFrame({
        "user_id": np.repeat([f"u{i}" for i in range(n_users)], k),
        "item_id": [f"p{i}" for i in rng.integers(0, 10_000, n_users * k)],
        "rank": np.tile(np.arange(1, k + 1, dtype=float), n_users),  # float ranks: cast to BIGINT
        "score": rng.random(n_users * k), "strategy": "model", "as_of_date": D,
        "model_version": "v1", "run_id": "r1", "scored_at": datetime(2026, 1, 15), "working_column": 1,
    })


def _risk_labels() -> pd.DataFrame:
    return pd.DataFrame({
        "transaction_id": ["t1", "t2", "t3", "t4"], "user_id": ["u1", None, np.nan, "ü-ß \"q\",\n"],
        "risk_score": ["0.1", 0.9, None, "1e-3"], "label": ["pass", "block", "review", "pass"],
        "action": ["none", "freeze_account", None, ""], "reasons": ["", "velocity", None, "a,b"],
        "as_of_date": [D] * 4, "as_of_hour": [HOUR] * 4, "model_version": "v1", "run_id": "r1",
        "scored_at": ["2026-01-15 11:00"] * 4,  # text timestamps: parsed
    })


def _demand_forecasts() -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": ["p1", "p1", "p2"],
        "forecast_date": pd.to_datetime(["2026-01-16", "2026-01-17", "2026-01-16"]),  # datetime64 dates
        "p10": [0.0, -1.5, np.nan], "p50": [1, 2, 3], "p90": [2.5, math.inf, 4.0], "price_p50": [None, 9.99, 1e12],
        "as_of_date": pd.Series([D] * 3, dtype=object), "model_version": "v2", "run_id": "r2",
        "scored_at": pd.Timestamp("2026-01-15"),
    })


def _inventory_actions() -> pd.DataFrame:
    spec = table("serving.inventory_actions")
    row: dict[str, object] = {}
    for column in spec.all_columns:
        row[column.name] = {"string": "x", "int": 2, "float": 0.5, "date": D,
                            "timestamp": datetime(2026, 1, 15)}[column.type]
    frame = pd.DataFrame([row, {**row, "product_id": "y", "category": None, "on_order": np.nan,
                                "lead_time_days": np.int32(3), "action": "order", "policy": "policy"}])
    return frame.assign(action=["none", "order"], policy=["policy", "days_of_cover"])


CASES = {
    "serving.recommendations": (_recommendations, {"as_of_date": D}, ["user_id", "rank"]),
    "serving.risk_labels": (_risk_labels, {"as_of_date": D, "as_of_hour": HOUR}, ["transaction_id"]),
    "serving.demand_forecasts": (_demand_forecasts, {"as_of_date": D}, ["item_id", "forecast_date"]),
    "serving.inventory_actions": (_inventory_actions, {"as_of_date": D}, ["product_id"]),
}


def _rows(qualified: str, order: list[str]) -> list[tuple]:
    """Every row in ``order`` (a stored NaN as the text "NaN", so that it differs from NULL)."""
    with connect() as conn:  # the driver's rows: a DataFrame would turn NULL into NaN
        rows = conn.execute(sa.text(f"SELECT * FROM {qualified} ORDER BY {', '.join(order)}")).fetchall()
    return [tuple("NaN" if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows]


def _column_types(qualified: str) -> list[tuple[str, str]]:
    schema, name = qualified.split(".")
    frame = read_frame("SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position",
                       {"s": schema, "t": name})
    return list(frame.itertuples(index=False, name=None))


@pytest.mark.parametrize("qualified", sorted(CASES))
def test_arrow_path_stores_what_the_pandas_path_stored(any_warehouse: str, qualified: str) -> None:
    build, partition, order = CASES[qualified]
    frame = build()
    reference = f"reference.{qualified.split('.')[1]}"
    replace_partition(reference, _pandas_path(qualified, frame), partition,
                      column_types=SERVING_SCHEMAS[qualified])
    for _ in range(2):  # the re-run replaces the partition: no duplicates
        assert write_serving(qualified, frame, partition, model_version="v1", run_id="r1") == len(frame)
    assert _column_types(qualified) == _column_types(reference)
    got, expected = _rows(qualified, order), _rows(reference, order)
    assert len(got) == len(frame) and got == expected
    assert all(v is None or type(v) is type(e) for g, e in zip(got, expected, strict=True)
               for v, e in zip(g, e, strict=True) if e is not None)


def test_the_typed_table_has_the_declared_arrow_types() -> None:
    typed = check_table("serving.risk_labels", _risk_labels())
    assert typed.column_names == list(SERVING_SCHEMAS["serving.risk_labels"])
    assert typed.schema.field("risk_score").type == pa.float64()
    assert typed.column("risk_score").to_pylist() == [0.1, 0.9, None, 0.001]
    assert typed.column("user_id").to_pylist() == ["u1", None, None, "ü-ß \"q\",\n"]
    assert typed.schema.field("as_of_date").type == pa.date32()
    assert pa.types.is_timestamp(typed.schema.field("scored_at").type)
    assert typed.column("scored_at").to_pylist() == [datetime(2026, 1, 15, 11)] * 4
    assert check_table("serving.recommendations", _recommendations()).schema.field("rank").type == pa.int64()
    forecasts = check_table("serving.demand_forecasts", _demand_forecasts())
    assert forecasts.column("forecast_date").to_pylist() == [date(2026, 1, 16), date(2026, 1, 17), date(2026, 1, 16)]


def test_a_bad_value_raises_naming_table_and_column_and_keeps_the_partition(any_warehouse: str) -> None:
    frame = _recommendations(5)
    write_serving("serving.recommendations", frame, {"as_of_date": D}, model_version="v1", run_id="r1")
    before = _rows("serving.recommendations", ["user_id", "rank"])
    bad = {
        r"serving.recommendations.rank: values do not fit the declared type 'int'":
            frame.assign(rank=["1"] * (len(frame) - 1) + ["first"]),
        r"serving.recommendations.rank: .*'int': fractional values": frame.assign(rank=1.5),
        r"serving.recommendations.user_id: 1 null value\(s\) in a column declared not null":
            frame.assign(user_id=[None] + ["u"] * (len(frame) - 1)),
        r"serving.recommendations.score: 2 null value\(s\)": frame.assign(score=[np.nan, None] + [0.1] * (len(frame) - 2)),
        r"serving.recommendations.scored_at: values do not fit the declared type 'timestamp'":
            frame.assign(scored_at="not a time"),
        r"serving.recommendations.as_of_date: values do not fit the declared type 'date'":
            frame.assign(as_of_date="someday"),
    }
    for message, frame_ in bad.items():
        with pytest.raises(ServingContractError, match=message):
            write_serving("serving.recommendations", frame_, {"as_of_date": D}, model_version="v1", run_id="r2")
    assert _rows("serving.recommendations", ["user_id", "rank"]) == before


def test_a_failed_insert_of_a_typed_table_leaves_the_previous_partition(any_warehouse: str) -> None:
    first = pa.table({"dt": pa.array([D, D], pa.date32()), "n": pa.array([1, 2], pa.int64())})
    replace_partition("raw.arrow_probe", first, {"dt": D})
    wrong = pa.table({"dt": pa.array([D], pa.date32()), "n": pa.array(["not a number"], pa.string())})
    with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's conversion error, after the DELETE ran
        replace_partition("raw.arrow_probe", wrong, {"dt": D})
    assert read_frame("SELECT n FROM raw.arrow_probe ORDER BY n")["n"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="rows outside partition dt"):
        replace_partition("raw.arrow_probe", pa.table({"dt": pa.array([D, None], pa.date32()),
                                                       "n": pa.array([1, 2])}), {"dt": D})
    replace_partition("raw.arrow_probe", first.slice(1), {"dt": D})
    assert read_frame("SELECT n FROM raw.arrow_probe")["n"].tolist() == [2]
