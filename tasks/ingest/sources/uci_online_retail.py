"""UCI "Online Retail" (UK gift shop invoices, 2010-12 .. 2011-12) as a ``Source``.

Decisions (also in ``tasks/ingest/README.md``):

* Every CSV line becomes exactly one ``order_lines`` row (``line_number`` = its
  position within the invoice, in file order) or, if its InvoiceDate does not
  parse, one ``unparseable('order_lines')`` row. Nothing is dropped here: zero
  or negative prices and negative quantities outside cancellations are passed
  through for the loader to quarantine by schema rules.
* Cancellations (InvoiceNo starting with ``C``) get ``is_cancellation=True``
  and keep their negative quantity.
* Missing CustomerID: the line keeps ``user_id`` null in order_lines/events;
  such invoices get no ``users`` row and no ``transactions`` row (a payment
  needs an account; a made-up guest id per invoice would look like thousands
  of brand-new accounts to the fraud features).
* CustomerID ``17850.0`` (a float artefact of the export) becomes ``17850``.
* Non-product StockCodes (postage, fees, manual adjustments, discounts,
  samples, bad debt) stay order lines with their code as product_id; their
  product row gets category ``non_product`` (gift vouchers ``gift_voucher``) so
  features can exclude them.
* Product category is a heuristic noun class: the last word of the most
  common description, skipping colour/size/pattern words, singularised;
  classes with fewer than ``MIN_CATEGORY_PRODUCTS`` products become ``other``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from tasks.ingest.sources.base import REASON, SOURCE_FILE, SOURCE_ROW
from tasks.ingest.sources.parquet_cache import ParquetCachedSource, code_fingerprint, file_fingerprint
from tasks.settings import REPO_ROOT

DEFAULT_PATH = REPO_ROOT.parent / "shared" / "data" / "online_retail_uci" / "online_retail.csv.gz"
PATH_ENV = "ECOMFLOW_ONLINE_RETAIL_PATH"
EXPECTED_COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                    "UnitPrice", "CustomerID", "Country")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
CURRENCY = "GBP"
NON_PRODUCT_CODES = frozenset({"POST", "DOT", "C2", "M", "m", "D", "S", "B", "BANK CHARGES",
                               "AMAZONFEE", "CRUK"})
MIN_CATEGORY_PRODUCTS = 15
MODIFIER_WORDS = frozenset({
    "PINK", "BLUE", "RED", "GREEN", "WHITE", "BLACK", "IVORY", "CREAM", "GOLD", "SILVER", "PURPLE",
    "ORANGE", "YELLOW", "BROWN", "GREY", "LARGE", "SMALL", "MEDIUM", "MINI", "JUMBO", "CM", "SET",
    "DESIGN", "RETROSPOT", "POLKADOT", "ASSORTED", "VINTAGE", "COLOUR", "COLOURS", "WITH", "OF", "AND",
})


def default_path() -> Path:
    return Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)


def _category(title: pd.Series, stock_code: pd.Series) -> pd.Series:
    words = title.fillna("").str.upper().str.findall(r"[A-Z]+")
    noun = words.map(lambda ws: next((w for w in reversed(ws) if w not in MODIFIER_WORDS and len(w) > 1), ""))
    noun = noun.where(~noun.str.match(r"^.{3,}[^S]S$"), noun.str[:-1]).str.lower()
    counts = noun.map(noun.value_counts())
    category = noun.where(counts >= MIN_CATEGORY_PRODUCTS, "other").where(noun != "", "unknown")
    category = category.where(~stock_code.isin(NON_PRODUCT_CODES), "non_product")
    return category.where(~stock_code.str.startswith("gift_"), "gift_voucher")


def _numeric_or_text(values: pd.Series) -> pd.Series:
    """Numbers when every value parses; otherwise the text, so the loader can name the bad value."""
    parsed = pd.to_numeric(values, errors="coerce")
    return parsed if parsed.notna().sum() == values.notna().sum() else values


class OnlineRetailSource(ParquetCachedSource):
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        if not self.path.exists():
            raise FileNotFoundError(
                f"UCI Online Retail file not found at {self.path}; expected shared/data beside the repo "
                f"or set {PATH_ENV}")
        self.name = "uci_online_retail"
        self.source_id = "uci_online_retail"

    def entities(self) -> list[str]:
        return ["users", "products", "events", "order_lines", "transactions"]

    def fingerprint(self) -> dict[str, object]:
        return {"file": file_fingerprint(self.path), "code": code_fingerprint([Path(__file__)])}

    def _read_lines(self) -> pd.DataFrame:
        raw = pd.read_csv(self.path, dtype=str, keep_default_na=False, encoding="utf-8")
        missing = [c for c in EXPECTED_COLUMNS if c not in raw.columns]
        if missing:
            raise ValueError(f"{self.path}: missing column(s) {missing}; found {list(raw.columns)}")
        raw = raw.replace({"": None})
        raw[SOURCE_FILE] = str(self.path)
        raw[SOURCE_ROW] = np.arange(1, len(raw) + 1)
        raw["CustomerID"] = raw["CustomerID"].str.strip().str.replace(r"\.0$", "", regex=True)
        raw["line_number"] = raw.groupby("InvoiceNo", sort=False, dropna=False).cumcount() + 1
        raw["ordered_at"] = pd.to_datetime(raw["InvoiceDate"], format=DATE_FORMAT, errors="coerce")
        raw["is_cancellation"] = raw["InvoiceNo"].fillna("").str.startswith("C")
        return raw

    def build(self) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
        raw = self._read_lines()
        lines = pd.DataFrame({
            "order_id": raw["InvoiceNo"],
            "line_number": raw["line_number"],
            "user_id": raw["CustomerID"],
            "product_id": raw["StockCode"],
            "quantity": _numeric_or_text(raw["Quantity"]),
            "unit_price": _numeric_or_text(raw["UnitPrice"]),
            "currency": CURRENCY,
            "country": raw["Country"],
            "is_cancellation": raw["is_cancellation"],
            "ordered_at": raw["ordered_at"],
            SOURCE_FILE: raw[SOURCE_FILE],
            SOURCE_ROW: raw[SOURCE_ROW],
        })
        bad_time = raw["ordered_at"].isna()
        bad_lines = lines[bad_time].assign(**{
            REASON: "InvoiceDate " + raw.loc[bad_time, "InvoiceDate"].fillna("<empty>").map(repr)
            + f" does not match {DATE_FORMAT}"})
        good = raw[~bad_time]
        events, bad_events = self._events(lines, bad_lines)
        return {
            "order_lines": (lines[~bad_time], bad_lines),
            "events": (events, bad_events),
            "transactions": (self._transactions(good), lines.iloc[0:0]),
            "products": (self._products(good), lines.iloc[0:0]),
            "users": (self._users(good), lines.iloc[0:0]),
        }

    @staticmethod
    def _events(lines: pd.DataFrame, bad_lines: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One purchase event per non-cancelled line; the invoice is the session."""
        def to_events(frame: pd.DataFrame) -> pd.DataFrame:
            frame = frame[~frame["is_cancellation"]]
            return pd.DataFrame({
                "event_id": frame["order_id"] + "-" + frame["line_number"].astype(str),
                "session_id": frame["order_id"],
                "user_id": frame["user_id"],
                "event_type": "purchase",
                "product_id": frame["product_id"],
                "price": frame["unit_price"],
                "event_at": frame["ordered_at"],
                SOURCE_FILE: frame[SOURCE_FILE],
                SOURCE_ROW: frame[SOURCE_ROW],
                **({REASON: frame[REASON]} if REASON in frame else {}),
            })
        return to_events(lines[lines["ordered_at"].notna()]), to_events(bad_lines)

    @staticmethod
    def _transactions(good: pd.DataFrame) -> pd.DataFrame:
        paid = good[~good["is_cancellation"] & good["CustomerID"].notna()].copy()
        paid["line_amount"] = (pd.to_numeric(paid["Quantity"], errors="coerce")
                               * pd.to_numeric(paid["UnitPrice"], errors="coerce"))
        grouped = paid.groupby("InvoiceNo", sort=False)
        first = paid.loc[grouped["ordered_at"].idxmin()].set_index("InvoiceNo")
        # min_count=1: an invoice whose amounts do not parse gets a null amount for the loader to reject.
        amount = grouped["line_amount"].sum(min_count=1).round(2)
        return pd.DataFrame({
            "transaction_id": first.index,
            "order_id": first.index,
            "user_id": first["CustomerID"].to_numpy(),
            "amount": amount.loc[first.index].to_numpy(),
            "currency": CURRENCY,
            "payment_method": "unknown",
            "country": first["Country"].to_numpy(),
            "transaction_at": first["ordered_at"].to_numpy(),
            SOURCE_FILE: first[SOURCE_FILE].to_numpy(),
            SOURCE_ROW: first[SOURCE_ROW].to_numpy(),
        })

    @staticmethod
    def _products(good: pd.DataFrame) -> pd.DataFrame:
        ordered = good.sort_values(["ordered_at", SOURCE_ROW], kind="stable")
        first = ordered.drop_duplicates("StockCode").set_index("StockCode")
        described = ordered[ordered["Description"].notna()]
        title = (described.groupby(["StockCode", "Description"], sort=False).size()
                 .rename("n").reset_index()
                 .sort_values("n", ascending=False, kind="stable")
                 .drop_duplicates("StockCode").set_index("StockCode")["Description"])
        price = pd.to_numeric(ordered["UnitPrice"], errors="coerce")
        sold = ordered[(price > 0) & ~ordered["is_cancellation"]]
        first_price = pd.to_numeric(sold.drop_duplicates("StockCode").set_index("StockCode")["UnitPrice"])
        codes = first.index.to_series()
        titles = title.reindex(codes.index)
        return pd.DataFrame({
            "product_id": codes.to_numpy(),
            "title": titles.to_numpy(),
            "category": _category(titles, codes).to_numpy(),
            "price": first_price.reindex(codes.index).to_numpy(),
            "currency": CURRENCY,
            "created_at": first["ordered_at"].to_numpy(),
            SOURCE_FILE: first[SOURCE_FILE].to_numpy(),
            SOURCE_ROW: first[SOURCE_ROW].to_numpy(),
        })

    @staticmethod
    def _users(good: pd.DataFrame) -> pd.DataFrame:
        known = good[good["CustomerID"].notna()].sort_values(["ordered_at", SOURCE_ROW], kind="stable")
        first = known.drop_duplicates("CustomerID")
        return pd.DataFrame({
            "user_id": first["CustomerID"].to_numpy(),
            "signup_at": first["ordered_at"].to_numpy(),
            "country": first["Country"].to_numpy(),
            SOURCE_FILE: first[SOURCE_FILE].to_numpy(),
            SOURCE_ROW: first[SOURCE_ROW].to_numpy(),
        })


