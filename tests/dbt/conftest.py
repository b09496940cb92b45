"""Fixtures for dbt tests: canonical raw tables and a small hand-made raw layer.

The raw tables are created by the loader's own ``ensure_raw_tables()`` (what the pipeline
guarantees before dbt runs) and filled through the real ``replace_partition``. Helpers are
exposed as fixtures because tests/ is not a package (a ``tests/dbt`` package would shadow dbt-core).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pandas as pd
import pytest

from tasks.ingest.load import ensure_raw_tables, raw_table_columns
from tasks.ingest.schema import ENTITIES, Entity
from tasks.warehouse import replace_partition

PANDAS_TYPES = {
    "string": "object",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "timestamp": "datetime64[ns]",
    "date": "object",
}


def column_types(entity: Entity) -> dict[str, str]:
    return raw_table_columns(entity)


def typed_frame(entity_name: str, rows: list[dict]) -> pd.DataFrame:
    """Frame with every canonical column (missing ones null) cast to the schema's types."""
    entity = ENTITIES[entity_name]
    frame = pd.DataFrame(rows, columns=[*entity.column_names, "dt", "hr", "_source"])
    for col in entity.columns:
        if col.type == "timestamp":
            frame[col.name] = pd.to_datetime(frame[col.name], format="ISO8601")
        elif col.type == "date":
            frame[col.name] = pd.to_datetime(frame[col.name], format="ISO8601").dt.date
        else:
            frame[col.name] = frame[col.name].astype(PANDAS_TYPES[col.type])
    frame["dt"] = pd.to_datetime(frame["dt"]).dt.date
    frame["hr"] = frame["hr"].astype("Int64")
    frame["_source"] = frame["_source"].fillna("test").astype("object")
    return frame


def create_raw_tables() -> None:
    """Every canonical raw table, empty (what the loader guarantees before dbt runs)."""
    ensure_raw_tables()


def write_raw(entity_name: str, rows: list[dict]) -> None:
    """Write rows into raw.<entity>, one replace_partition per (dt, hr) like the loader."""
    entity = ENTITIES[entity_name]
    frame = typed_frame(entity_name, rows)
    for (dt, hr), part in frame.groupby(["dt", "hr"], dropna=False, sort=True):
        hr_value = None if pd.isna(hr) else int(hr)
        replace_partition(
            f"raw.{entity_name}", part.reset_index(drop=True), {"dt": dt, "hr": hr_value},
            column_types=column_types(entity),
        )

SAMPLE_RAW: dict[str, list[dict]] = {
    "users": [
        # u1 re-delivered in a later partition with a corrected country: the later copy wins.
        {"user_id": "u1", "signup_at": "2026-01-01 09:00", "country": "DE", "email_hash": "h1", "dt": "2026-01-01"},
        {"user_id": "u1", "signup_at": "2026-01-01 09:00", "country": "FR", "email_hash": "h1", "dt": "2026-01-02"},
        {"user_id": "u2", "signup_at": "2026-01-02 10:00", "country": " ", "email_hash": "h2", "dt": "2026-01-02"},
    ],
    "products": [
        {"product_id": "p1", "title": "Mug", "category": "kitchen", "price": 9.0, "currency": "gbp",
         "created_at": "2026-01-01 00:00", "dt": "2026-01-01"},
        {"product_id": "p1", "title": "Mug", "category": "kitchen", "price": 10.0, "currency": "gbp",
         "created_at": "2026-01-01 00:00", "dt": "2026-01-03"},
        {"product_id": "p2", "title": "Lamp", "category": "home", "price": 5.5, "currency": "GBP",
         "created_at": "2026-01-02 00:00", "dt": "2026-01-02"},
    ],
    "events": [
        {"event_id": "e1", "session_id": "s1", "user_id": "u1", "event_type": "View ", "product_id": "p1",
         "price": 10.0, "device": "Mobile", "event_at": "2026-01-02 10:05", "dt": "2026-01-02", "hr": 10},
        # e1 delivered again in the next hour: must not double in fct_events.
        {"event_id": "e1", "session_id": "s1", "user_id": "u1", "event_type": "view", "product_id": "p1",
         "price": 10.0, "device": "mobile", "event_at": "2026-01-02 10:05", "dt": "2026-01-02", "hr": 11},
        {"event_id": "e2", "session_id": "s1", "user_id": "u1", "event_type": "cart", "product_id": "p1",
         "price": 10.0, "device": "mobile", "event_at": "2026-01-02 10:07", "dt": "2026-01-02", "hr": 10},
        {"event_id": "e3", "session_id": "s1", "user_id": "u1", "event_type": "purchase", "product_id": "p1",
         "price": 10.0, "device": "mobile", "event_at": "2026-01-02 23:59", "dt": "2026-01-02", "hr": 23},
        {"event_id": "e4", "session_id": "s2", "user_id": None, "event_type": "search", "query": "lamp",
         "device": "desktop", "event_at": "2026-01-03 08:00", "dt": "2026-01-03", "hr": 8},
    ],
    "order_lines": [
        {"order_id": "o1", "line_number": 1, "user_id": "u1", "product_id": "p1", "quantity": 2,
         "unit_price": 10.0, "currency": "GBP", "ordered_at": "2026-01-02 23:59", "dt": "2026-01-02", "hr": 23},
        {"order_id": "o1", "line_number": 2, "user_id": "u1", "product_id": "p2", "quantity": 1,
         "unit_price": 5.5, "currency": "GBP", "ordered_at": "2026-01-02 23:59", "dt": "2026-01-02", "hr": 23},
        # Cancellation without a flag: quantity sign decides.
        {"order_id": "C1", "line_number": 1, "user_id": "u1", "product_id": "p1", "quantity": -1,
         "unit_price": 10.0, "currency": "GBP", "ordered_at": "2026-01-03 09:00", "dt": "2026-01-03", "hr": 9},
        # u3 has no users row (UCI-style) and p9 no product row (warn-only relationship).
        {"order_id": "o2", "line_number": 1, "user_id": "u3", "product_id": "p9", "quantity": 3,
         "unit_price": 1.25, "currency": "GBP", "ordered_at": "2026-01-03 12:30", "dt": "2026-01-03", "hr": 12},
    ],
    "transactions": [
        {"transaction_id": "t1", "order_id": "o1", "user_id": "u1", "amount": 25.5, "currency": "GBP",
         "payment_method": "Card", "is_fraud": False, "transaction_at": "2026-01-02 23:59:30",
         "dt": "2026-01-02", "hr": 23},
        {"transaction_id": "t2", "order_id": None, "user_id": "u2", "amount": 999.0, "currency": "GBP",
         "payment_method": "card", "is_fraud": True, "transaction_at": "2026-01-03 03:00",
         "dt": "2026-01-03", "hr": 3},
    ],
    # A store's daily total with returns exceeding sales (negative demand) and no price.
    "daily_sales": [
        {"product_id": "p1", "store_id": "s1", "units": -2.0, "is_promo": True, "sales_date": "2026-01-03",
         "dt": "2026-01-03"},
    ],
    # A market calendar: a national holiday, and a regional pay day with a padded name and a blank class.
    "calendar": [
        {"calendar_date": "2026-01-01", "event_name": "New Year", "event_type": "National", "dt": "2026-01-01"},
        {"calendar_date": "2026-01-02", "event_name": " payday ", "event_type": " ", "region": "DE",
         "dt": "2026-01-02"},
    ],
    "sessions": [
        {"session_id": "ss1", "user_id": None, "started_at": "2026-01-02 12:00", "n_events": 5,
         "n_product_views": 3, "duration_seconds": 120.0, "is_weekend": False, "has_purchase": True,
         "dt": "2026-01-02"},
    ],
}


def load_sample_raw(overrides: dict[str, list[dict]] | None = None) -> None:
    """Create every raw table and write SAMPLE_RAW (entities in ``overrides`` replaced)."""
    create_raw_tables()
    data = {**SAMPLE_RAW, **(overrides or {})}
    for entity_name, rows in data.items():
        write_raw(entity_name, rows)


@pytest.fixture
def sample_raw_rows() -> dict[str, list[dict]]:
    """A deep copy of SAMPLE_RAW a test may edit before loading it."""
    return copy.deepcopy(SAMPLE_RAW)


@pytest.fixture
def raw_loader(isolated_home) -> Callable[..., None]:
    """``load(overrides=None)`` into the isolated home's raw schema."""
    return load_sample_raw


@pytest.fixture
def sample_raw(isolated_home):
    """An isolated home whose raw schema holds SAMPLE_RAW."""
    load_sample_raw()
    return isolated_home
