"""The UCI Online Retail adapter on the real file (../shared/data)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tasks.ingest.sources import SOURCE_ROW, get_source
from tasks.ingest.sources.uci_online_retail import OnlineRetailSource
from tests.conftest import ONLINE_RETAIL_CSV


@pytest.fixture(scope="module")
def retail(ecomflow_home: Path, shared_data: Path) -> OnlineRetailSource:
    source = get_source("uci_online_retail")
    assert isinstance(source, OnlineRetailSource)
    assert source.path == ONLINE_RETAIL_CSV
    return source


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(ONLINE_RETAIL_CSV, dtype=str, keep_default_na=False)


def _everything(source: OnlineRetailSource, entity: str) -> pd.DataFrame:
    first, last = source.coverage()
    return source.read(entity, first, last + timedelta(seconds=1))


def test_every_input_line_is_one_order_line_or_reported(retail: OnlineRetailSource, raw: pd.DataFrame) -> None:
    lines = _everything(retail, "order_lines")
    rows = pd.concat([lines[SOURCE_ROW], retail.unparseable("order_lines")[SOURCE_ROW]])
    assert rows.is_unique
    assert sorted(rows) == list(range(1, len(raw) + 1))
    assert not lines.duplicated(["order_id", "line_number"]).any()


def test_order_lines_match_the_file_row_by_row(retail: OnlineRetailSource, raw: pd.DataFrame) -> None:
    lines = _everything(retail, "order_lines").set_index(SOURCE_ROW).sort_index()
    source_rows = raw.iloc[lines.index - 1]
    assert (lines["order_id"].to_numpy() == source_rows["InvoiceNo"].to_numpy()).all()
    assert (lines["product_id"].to_numpy() == source_rows["StockCode"].to_numpy()).all()
    assert (lines["quantity"].to_numpy() == source_rows["Quantity"].astype(int).to_numpy()).all()


def test_cancellations_are_flagged_and_keep_negative_quantity(retail: OnlineRetailSource, raw: pd.DataFrame) -> None:
    lines = _everything(retail, "order_lines")
    cancelled = lines[lines["is_cancellation"]]
    assert len(cancelled) == raw["InvoiceNo"].str.startswith("C").sum() > 0
    assert cancelled["order_id"].str.startswith("C").all()
    assert (cancelled["quantity"] < 0).all()
    assert not lines.loc[~lines["is_cancellation"], "order_id"].str.startswith("C").any()


def test_bad_values_are_passed_through_for_the_loader(retail: OnlineRetailSource, raw: pd.DataFrame) -> None:
    lines = _everything(retail, "order_lines")
    assert (lines["unit_price"] <= 0).sum() == (raw["UnitPrice"].astype(float) <= 0).sum() > 0
    assert (lines.loc[~lines["is_cancellation"], "quantity"] < 0).any()  # adjustments: loader rejects
    assert lines["user_id"].isna().sum() == (raw["CustomerID"] == "").sum()
    assert not lines["user_id"].dropna().str.endswith(".0").any()


def test_transactions_one_per_paid_invoice_with_summed_amount(retail: OnlineRetailSource, raw: pd.DataFrame) -> None:
    txn = _everything(retail, "transactions")
    paid = raw[~raw["InvoiceNo"].str.startswith("C") & (raw["CustomerID"] != "")]
    assert set(txn["transaction_id"]) == set(paid["InvoiceNo"])
    assert txn["transaction_id"].is_unique
    one = paid[paid["InvoiceNo"] == "536365"]
    expected = (one["Quantity"].astype(float) * one["UnitPrice"].astype(float)).sum()
    row = txn.set_index("transaction_id").loc["536365"]
    assert row["amount"] == pytest.approx(expected)
    assert row["currency"] == "GBP"
    assert row["payment_method"] == "unknown"
    assert row["user_id"] == "17850"


def test_users_products_and_events(retail: OnlineRetailSource, raw: pd.DataFrame) -> None:
    users = _everything(retail, "users")
    assert set(users["user_id"]) == {c.removesuffix(".0") for c in raw["CustomerID"] if c}
    assert users.set_index("user_id").loc["17850", "signup_at"] == pd.Timestamp("2010-12-01 08:26:00")
    products = _everything(retail, "products")
    assert set(products["product_id"]) == set(raw["StockCode"])
    assert products["product_id"].is_unique
    by_id = products.set_index("product_id")
    assert by_id.loc["POST", "category"] == "non_product"
    assert by_id.loc["85123A", "title"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert by_id.loc["85123A", "category"] == "holder"
    events = retail.read("events", datetime(2011, 1, 1), datetime(2011, 2, 1))
    assert (events["event_type"] == "purchase").all()
    assert len(events) > 0
    assert (events["session_id"] == events["event_id"].str.split("-").str[0]).all()


def test_env_override_of_the_file_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ECOMFLOW_ONLINE_RETAIL_PATH", str(tmp_path / "missing.csv.gz"))
    with pytest.raises(FileNotFoundError, match="missing.csv.gz.*ECOMFLOW_ONLINE_RETAIL_PATH"):
        get_source("uci_online_retail")
