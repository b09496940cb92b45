"""The marts dbt builds for Python: each ``marts.*`` table's contract, declared once.

This module is the one declaration of the seven tables in schema ``marts``
(``dbt_project/models/marts/*.sql``): columns (in the order the models select them), types,
nullability, key (the grain; ``description`` starts "One row per ..."), foreign keys to the
dimensions, allowed values, value bounds and descriptions. ``python -m tasks.contracts.generate``
writes from it

- ``dbt_project/models/marts/_marts__models.yml`` (``dbt_marts_models``): the enforced contract
  (``data_type`` per column), ``not_null``/``unique``/``accepted_values``/``relationships``
  tests and the key's ``unique_combination_of_columns``;
- the generated part of each GX suite ``expectations/marts_<table>.yml`` (``gx_marts_suites``):
  column set, not-null, key uniqueness, allowed values, bounds;
- ``docs/marts_schema.md`` (``marts_schema_doc``);

and ``tests/test_marts_contracts_declared_once.py`` fails when any of them drifts.

Where the rules live: ``nullable=False`` is a ``not_null`` test in dbt (the build fails) and a
not-null expectation in the GX gate; allowed values are dbt ``accepted_values`` and a GX value
set; bounds (``min_value``/``max_value``) are GX only (dbt has no test for them without another
package); foreign keys (``references``) are dbt ``relationships`` only.

The column class is the serving tables' (``tasks.score.schema.ServingColumn``: bounds with
their reason) plus the foreign key. Types use the raw schema's vocabulary and the serving
tables' SQL spelling, which DuckDB and PostgreSQL share (``text``, ``bigint``,
``double precision``, ``boolean``, ``timestamp``, ``date``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tasks.contracts.columns import ColumnLookup, column_factory, table_lookup
from tasks.ingest.schema import entity
from tasks.score.schema import ServingColumn


@dataclass(frozen=True)
class MartColumn(ServingColumn):
    """A serving column plus a foreign key and the raw column its value list comes from.

    ``references``: ``"<mart>.<column>"`` every non-null value must exist in (a dbt
    ``relationships`` test); ``reference_warn_only`` when sources legitimately break it (the
    build warns instead of failing). ``values_from``: ``"<entity>.<column>"`` of the raw
    declaration whose ``allowed_values`` this column repeats (the dbt line is pinned to it).
    """

    references: str = ""
    reference_warn_only: bool = False
    values_from: str = ""
    # dbt, not pandas, writes the marts, so a nullable bigint is fine.
    written_by_pandas: ClassVar[bool] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reference_warn_only and not self.references:
            raise ValueError(f"column {self.name!r}: reference_warn_only without references")
        if self.values_from and not self.allowed_values:
            raise ValueError(f"column {self.name!r}: values_from without allowed_values")


@dataclass(frozen=True)
class MartTable(ColumnLookup[MartColumn]):
    """One ``marts.<name>`` table (``column_names``, ``required``, ``column(name)``: ``ColumnLookup``).

    ``key`` is its grain (unique, never null). ``partition``: the date column the GX gate
    validates one day at a time (None: the whole table after each build). ``purpose``: who reads
    it, the GX suite's description. ``allow_empty``: whether an empty table or partition passes
    the gate; ``empty_note`` says why (a comment above the flag in the suite).
    """

    name: str
    description: str
    purpose: str
    key: tuple[str, ...]
    columns: tuple[MartColumn, ...]
    partition: str | None = None
    allow_empty: bool = True
    empty_note: str = ""
    key_why: str = ""
    also_unique: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def qualified(self) -> str:
        return f"marts.{self.name}"

    @property
    def all_columns(self) -> tuple[MartColumn, ...]:
        """The columns (``ServingTable``'s name, so the serving suite generator reads a mart too)."""
        return self.columns

    @property
    def _column_owner(self) -> str:
        return self.qualified

    @property
    def partition_columns(self) -> tuple[str, ...]:
        return (self.partition,) if self.partition else ()

    @property
    def sql_types(self) -> dict[str, str]:
        """``{column: SQL type}`` in model order (the dbt contract's ``data_type``, lower-cased)."""
        return {c.name: c.sql_type.lower() for c in self.columns}


_c = column_factory(MartColumn)


def _pinned(qualified: str) -> dict[str, object]:
    """The allowed values of a raw column (``"<entity>.<column>"``), for a mart column that repeats them."""
    entity_name, column_name = qualified.split(".")
    return {"allowed_values": entity(entity_name).column(column_name).allowed_values, "values_from": qualified}


_USER: dict[str, object] = {"references": "dim_users.user_id"}
_USER_WARN: dict[str, object] = {"references": "dim_users.user_id", "reference_warn_only": True}
_PRODUCT_WARN: dict[str, object] = {"references": "dim_products.product_id", "reference_warn_only": True}
_NON_NEGATIVE: dict[str, object] = {"min_value": 0}


MARTS_TABLES: dict[str, MartTable] = {
    t.name: t
    for t in (
        MartTable(
            name="dim_users",
            description="One row per user (user_id). Includes users known only from order lines, events or "
                        "transactions (sources without a users file; is_signup_inferred = true, signup_at = "
                        "the first time the user was seen anywhere).",
            purpose="The user dimension Python joins to (docs/CONTRACTS.md); validated whole after each dbt "
                    "build.",
            key=("user_id",),
            allow_empty=False,
            empty_note="Users derive from order lines, events and transactions when there is no users file, "
                       "so any source the mart applies to (tasks/applicability.py MART_INPUTS) fills it: an "
                       "empty dimension means dbt lost them.",
            columns=(
                _c("user_id", "string", False, "Stable user/customer id (primary key)."),
                _c("signup_at", "timestamp", False, "Account creation, UTC (inferred from the first order "
                   "line, event or transaction when the source has no users)."),
                _c("country", "string", True, "Country of the account."),
                _c("email_hash", "string", True, "Keyed hash of the e-mail."),
                _c("first_order_at", "timestamp", True, "First non-cancelled order, UTC; null when the user "
                   "never ordered."),
                _c("n_orders", "int", False, "Distinct non-cancelled orders.", **_NON_NEGATIVE),
                _c("is_signup_inferred", "bool", True, "True when the user is not in the users file (derived "
                   "from order lines, events or transactions)."),
            ),
        ),
        MartTable(
            name="dim_products",
            description="One row per product (product_id). Includes products seen only on events or order "
                        "lines (is_derived = true, created_at = first seen, category = the latest category an "
                        "event carried, when the source sends one).",
            purpose="The product dimension used for item features and recommendation titles.",
            key=("product_id",),
            columns=(
                _c("product_id", "string", False, "Product id (primary key)."),
                _c("title", "string", True, "Product title."),
                _c("description", "string", True, "Long description."),
                _c("category", "string", True, "Category label."),
                _c("brand", "string", True, "Brand."),
                _c("list_price", "float", True, "List price when first listed.", min_value=0, strict_min=True),
                _c("currency", "string", True, "ISO currency code."),
                _c("created_at", "timestamp", False, "First listed, UTC (first seen on an event or order line "
                   "for derived products)."),
                _c("is_derived", "bool", True, "True when the product is not in the products file (derived "
                   "from events/order lines)."),
            ),
        ),
        MartTable(
            name="fct_events",
            description="One row per behaviour event (event_id).",
            purpose="Behaviour events mart, one day (event_date) at a time.",
            key=("event_id",),
            partition="event_date",
            columns=(
                _c("event_id", "string", False, "Event id (primary key)."),
                _c("session_id", "string", False, "Browsing session."),
                _c("user_id", "string", True, "User; null for anonymous sessions.", **_USER_WARN),
                _c("event_type", "string", False, "What the user did; one of the event types declared in "
                   "tasks/ingest/schema.py.", **_pinned("events.event_type")),
                _c("product_id", "string", True, "Product; null for search events.", **_PRODUCT_WARN),
                _c("query", "string", True, "Search text (search events)."),
                _c("price", "float", True, "Price shown at event time.", **_NON_NEGATIVE),
                _c("device", "string", True, "Device class."),
                _c("event_at", "timestamp", False, "Event time, UTC."),
                _c("event_date", "date", False, "UTC date of event_at."),
                _c("extra_features", "string", True, "The shop's own signals on the event declared in the "
                   "mapping (`features:`), a JSON object as text; null without any. The session-intent model "
                   "aggregates them per session."),
            ),
        ),
        MartTable(
            name="fct_order_lines",
            description="One row per order line (order_id, line_number); cancellations kept with negative "
                        "quantity.",
            purpose="Order lines mart, one day (order_date) at a time.",
            key=("order_id", "line_number"),
            partition="order_date",
            columns=(
                _c("order_id", "string", False, "Order/invoice id."),
                _c("line_number", "int", False, "Line within the order."),
                _c("user_id", "string", True, "Buying user; null for guest orders. Every non-null user has a "
                   "dim_users row.", **_USER),
                _c("product_id", "string", False, "Product ordered. Warn-only relationship: order-line sources "
                   "(UCI Online Retail) sell stock codes that no product listing describes.", **_PRODUCT_WARN),
                _c("quantity", "int", False, "Units; negative for cancellations."),
                _c("unit_price", "float", False, "Price per unit.", **_NON_NEGATIVE),
                _c("line_amount", "float", False, "quantity * unit_price."),
                _c("is_cancellation", "bool", False, "The line cancels units."),
                _c("ordered_at", "timestamp", False, "Order time, UTC."),
                _c("order_date", "date", False, "UTC date of ordered_at."),
                _c("currency", "string", True, "ISO currency code."),
                _c("country", "string", True, "Customer country."),
            ),
        ),
        MartTable(
            name="fct_transactions",
            description="One row per payment attempt (transaction_id).",
            purpose="Payments mart, one day (transaction_date) at a time.",
            key=("transaction_id",),
            partition="transaction_date",
            columns=(
                _c("transaction_id", "string", False, "Payment attempt id (primary key)."),
                _c("order_id", "string", True, "Order paid for, when known."),
                _c("user_id", "string", False, "Paying user.", **_USER_WARN),
                _c("amount", "float", False, "Amount charged."),
                _c("currency", "string", True, "ISO currency code."),
                _c("payment_method", "string", True, "Payment method."),
                _c("device_id", "string", True, "Client device id."),
                _c("country", "string", True, "Country of the payment."),
                _c("ip_hash", "string", True, "Keyed hash of the client IP."),
                _c("card_hash", "string", True, "Keyed hash of the card number."),
                _c("is_fraud", "bool", True, "Chargeback label when known."),
                _c("transaction_at", "timestamp", False, "Attempt time, UTC."),
                _c("transaction_date", "date", False, "UTC date of transaction_at."),
                _c("is_non_positive_amount", "bool", True, "amount <= 0 (zero-amount authorisation, reversal); "
                   "a card-testing signal kept for the risk model."),
                _c("extra_features", "string", True, "The shop's own signals declared in the mapping "
                   "(`features:`), a JSON object as text; null without any."),
            ),
        ),
        MartTable(
            name="fct_session_summaries",
            description="One row per browsing session (session_id) from session-aggregate sources "
                        "(raw.sessions cleaned).",
            purpose="Session-aggregate mart (sources that only deliver sessions), one day (session_date) at a "
                    "time.",
            key=("session_id",),
            partition="session_date",
            empty_note="Only session-aggregate sources (UCI Online Shoppers) fill it.",
            columns=(
                _c("session_id", "string", False, "Session id (primary key)."),
                _c("user_id", "string", True, "User, when known."),
                _c("started_at", "timestamp", False, "Session start, UTC."),
                _c("session_date", "date", True, "UTC date of started_at."),
                _c("n_events", "int", True, "Events in the session."),
                _c("n_product_views", "int", True, "Product page views."),
                _c("duration_seconds", "float", True, "Session length in seconds.", **_NON_NEGATIVE),
                _c("bounce_rate", "float", True, "Source's bounce-rate metric.", min_value=0, max_value=1),
                _c("exit_rate", "float", True, "Source's exit-rate metric."),
                _c("page_value", "float", True, "Source's page-value metric."),
                _c("visitor_type", "string", True, "New/Returning/Other."),
                _c("is_weekend", "bool", True, "Session on a weekend."),
                _c("device", "string", True, "Device class."),
                _c("region", "string", True, "Region."),
                _c("has_purchase", "bool", True, "Label, the session ended in a purchase."),
            ),
        ),
        MartTable(
            name="fct_daily_item_sales",
            description="One row per product, store and day with any sales (product_id, store_id, "
                        "sales_date): non-cancelled order lines summed per day (store_id 'all') plus the "
                        "source's daily totals. Sparse -- a day without sales has no row. The demand "
                        "forecaster reads its whole history (up to four years) from here, so a five-year "
                        "panel is not cut to the 90 days that features.daily_item_sales keeps.",
            purpose="Daily sales per product and store (the forecaster's history), one day (sales_date) at a "
                    "time.",
            key=("product_id", "store_id", "sales_date"),
            partition="sales_date",
            empty_note="Clickstreams without orders and card-transaction sources have no sales.",
            columns=(
                _c("product_id", "string", False, "Product sold."),
                _c("store_id", "string", False, "Store or location; 'all' for order lines and for sources "
                   "without stores."),
                _c("sales_date", "date", False, "UTC day of the sales."),
                _c("units", "float", False, "Units sold that day; negative when returns exceed sales (kept as "
                   "negative demand)."),
                _c("revenue", "float", True, "Revenue of the units whose price is known; null when none is."),
                _c("avg_price", "float", True, "revenue / units over the units whose price is known; null for "
                   "a source without prices (never 0).", **_NON_NEGATIVE),
                _c("n_orders", "int", False, "Distinct orders (0 for daily-total sources).", **_NON_NEGATIVE),
                _c("is_promo", "bool", False, "The source flagged the day as a promotion."),
            ),
        ),
    )
}


def table(qualified: str) -> MartTable:
    """``marts.<name>`` -> its declaration (a clear error for an undeclared table)."""
    return table_lookup(MARTS_TABLES, "marts", "mart", "tasks/contracts/marts_schema.py", qualified)
