"""Two tasks creating the same schema at once on PostgreSQL must both succeed (seen under the
scheduler: two feature sets published in parallel, one failed with UniqueViolation)."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from tasks.warehouse.io import ensure_schema

pytestmark = pytest.mark.postgres


def test_concurrent_schema_creation_does_not_fail(postgres_home) -> None:
    from tasks.warehouse import get_engine

    engine = get_engine()
    errors: list[BaseException] = []
    for _ in range(5):
        schema = f"race_{uuid.uuid4().hex[:8]}"
        barrier = threading.Barrier(4)

        def create(schema: str = schema, barrier: threading.Barrier = barrier) -> None:
            try:
                with engine.begin() as conn:
                    barrier.wait()
                    ensure_schema(conn, schema)
                    conn.execute(sa.text("SELECT 1"))  # the transaction is still usable
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
            conn.execute(sa.text(f'DROP SCHEMA "{schema}"'))
    assert errors == []
