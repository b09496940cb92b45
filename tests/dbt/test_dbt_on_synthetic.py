"""dbt build (models + tests) on real ingested synthetic S data, not hand-made rows."""

from __future__ import annotations

from datetime import date

from tasks.cli import backfill_ingest
from tasks.partitions import Partition
from tasks.transform import build_layer
from tasks.warehouse import read_frame


def test_marts_reconcile_with_ingested_s_data(isolated_home) -> None:
    # S data from the source's first day (users and products are listed before the first
    # events) to the end of the first week, through the real loader; then dbt.
    backfill_ingest(Partition(date(2026, 1, 8)))
    build_layer("warehouse")

    def count(sql: str) -> int:
        return int(read_frame(sql).iloc[0, 0])

    raw_events = count("SELECT COUNT(*) FROM raw.events")
    assert raw_events > 1000
    # Marts keep one row per key: equal to the distinct keys loaded, nothing invented or lost.
    assert count("SELECT COUNT(*) FROM marts.fct_events") == count("SELECT COUNT(DISTINCT event_id) FROM raw.events")
    assert count("SELECT COUNT(*) FROM marts.fct_transactions") == count(
        "SELECT COUNT(DISTINCT transaction_id) FROM raw.transactions")
    assert count("SELECT COUNT(*) FROM marts.fct_order_lines") == count("SELECT COUNT(*) FROM raw.order_lines")
    # Every event's product is in the product dimension (a hard relationship test in dbt too).
    assert count("SELECT COUNT(*) FROM marts.fct_events e LEFT JOIN marts.dim_products p "
                 "ON e.product_id = p.product_id WHERE e.product_id IS NOT NULL AND p.product_id IS NULL") == 0
    assert count("SELECT COUNT(*) FROM marts.fct_events WHERE event_date <> CAST(event_at AS DATE)") == 0
