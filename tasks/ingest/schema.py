"""The canonical raw schema every source is mapped into.

Sources (synthetic generator, public-set adapters, user mapping files) only
have to produce frames with these column names; typing, validation,
quarantine, landing and loading are shared. ``docs/canonical_schema.md`` is
the human-readable version of this module and is checked against it by a test.

Types are a small vocabulary so they map cleanly onto Parquet, DuckDB,
PostgreSQL and Spark: string, int, float, bool, timestamp (UTC, naive in
storage), date.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TYPES = ("view", "cart", "purchase", "search")
PAYMENT_METHODS_EXAMPLE = ("card", "paypal", "bank_transfer", "wallet", "unknown")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    description: str = ""


@dataclass(frozen=True)
class Entity:
    """One canonical raw table.

    ``time_column`` decides the partition (``dt`` = its UTC date and, for
    ``hourly`` entities, ``hr`` = its UTC hour).
    """

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_column: str
    hourly: bool
    description: str

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if not c.nullable]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"entity {self.name!r} has no column {name!r}")


def _c(name: str, type_: str, nullable: bool = True, description: str = "") -> Column:
    return Column(name, type_, nullable, description)


ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (
        Entity(
            name="users",
            description="One row per user account, partitioned by sign-up date.",
            key=("user_id",),
            time_column="signup_at",
            hourly=False,
            columns=(
                _c("user_id", "string", False, "Stable user/customer id."),
                _c("signup_at", "timestamp", False, "Account creation (UTC)."),
                _c("country", "string"),
                _c("email_hash", "string", description="Keyed hash of the e-mail; raw e-mail never stored."),
                _c("name_hash", "string", description="Keyed hash of the full name."),
                _c("extra_features", "string", description="Shop-specific model features declared in the mapping "
                   "(`features:`), as a JSON object: numbers for numeric, text for categorical; null without any."),
            ),
        ),
        Entity(
            name="products",
            description="One row per product, partitioned by the date it was first listed.",
            key=("product_id",),
            time_column="created_at",
            hourly=False,
            columns=(
                _c("product_id", "string", False),
                _c("title", "string"),
                _c("description", "string"),
                _c("category", "string"),
                _c("brand", "string"),
                _c("price", "float", description="List price when first listed (> 0)."),
                _c("currency", "string"),
                _c("created_at", "timestamp", False),
                _c("extra_features", "string", description="Shop-specific model features declared in the mapping "
                   "(`features:`), as a JSON object: numbers for numeric, text for categorical; null without any."),
            ),
        ),
        Entity(
            name="events",
            description="One row per behaviour event (view, cart, purchase, search).",
            key=("event_id",),
            time_column="event_at",
            hourly=True,
            columns=(
                _c("event_id", "string", False),
                _c("session_id", "string", False),
                _c("user_id", "string", description="Null for anonymous sessions."),
                _c("event_type", "string", False, "One of view, cart, purchase, search."),
                _c("product_id", "string", description="Null for search events."),
                _c("query", "string", description="Search text for search events."),
                _c("price", "float", description="Price shown at event time."),
                _c("device", "string"),
                _c("event_at", "timestamp", False),
                _c("extra_features", "string", description="Shop-specific model features declared in the mapping "
                   "(`features:`), as a JSON object: numbers for numeric, text for categorical; null without any."),
            ),
        ),
        Entity(
            name="order_lines",
            description="One row per order line (item within an order/invoice).",
            key=("order_id", "line_number"),
            time_column="ordered_at",
            hourly=True,
            columns=(
                _c("order_id", "string", False),
                _c("line_number", "int", False),
                _c("user_id", "string"),
                _c("product_id", "string", False),
                _c("quantity", "int", False, "Units; negative only when is_cancellation."),
                _c("unit_price", "float", False),
                _c("currency", "string"),
                _c("country", "string"),
                _c("is_cancellation", "bool"),
                _c("ordered_at", "timestamp", False),
            ),
        ),
        Entity(
            name="transactions",
            description="One row per payment attempt.",
            key=("transaction_id",),
            time_column="transaction_at",
            hourly=True,
            columns=(
                _c("transaction_id", "string", False),
                _c("order_id", "string"),
                _c("user_id", "string", False),
                _c("amount", "float", False, "Zero and negative amounts are kept (card testing, reversals)."),
                _c("currency", "string"),
                _c("payment_method", "string"),
                _c("device_id", "string"),
                _c("country", "string"),
                _c("ip_hash", "string", description="Keyed hash of the client IP."),
                _c("card_hash", "string", description="Keyed hash of the card number."),
                _c("is_fraud", "bool", description="Label, when the source knows it (chargeback)."),
                _c("transaction_at", "timestamp", False),
                _c("is_non_positive_amount", "bool",
                   description="Set by the loader, never mapped: amount <= 0 (zero-amount authorisation, reversal)."),
                _c("extra_features", "string", description="Shop-specific model features declared in the mapping "
                   "(`features:`), as a JSON object: numbers for numeric, text for categorical; null without any."),
            ),
        ),
        Entity(
            name="prices",
            description="One row per price change of a product.",
            key=("product_id", "valid_from"),
            time_column="valid_from",
            hourly=False,
            columns=(
                _c("product_id", "string", False),
                _c("price", "float", False),
                _c("is_promo", "bool"),
                _c("valid_from", "timestamp", False),
            ),
        ),
        Entity(
            name="inventory",
            description="One row per product stock snapshot.",
            key=("product_id", "snapshot_at"),
            time_column="snapshot_at",
            hourly=False,
            columns=(
                _c("product_id", "string", False),
                _c("stock_quantity", "int", False),
                _c("snapshot_at", "timestamp", False),
            ),
        ),
        Entity(
            name="daily_sales",
            description="One row per product, store and day (for sources that only have daily totals).",
            key=("product_id", "store_id", "sales_date"),
            time_column="sales_date",
            hourly=False,
            columns=(
                _c("product_id", "string", False),
                _c("store_id", "string", False, "'all' when the source has no stores."),
                _c("units", "float", False),
                _c("revenue", "float"),
                _c("price", "float"),
                _c("is_promo", "bool"),
                _c("sales_date", "date", False),
            ),
        ),
        Entity(
            name="sessions",
            description="One row per browsing session, for sources that only have session aggregates.",
            key=("session_id",),
            time_column="started_at",
            hourly=False,
            columns=(
                _c("session_id", "string", False),
                _c("user_id", "string"),
                _c("started_at", "timestamp", False),
                _c("n_events", "int"),
                _c("n_product_views", "int"),
                _c("duration_seconds", "float"),
                _c("bounce_rate", "float"),
                _c("exit_rate", "float"),
                _c("page_value", "float"),
                _c("visitor_type", "string"),
                _c("is_weekend", "bool"),
                _c("device", "string"),
                _c("region", "string"),
                _c("has_purchase", "bool", description="Label: the session ended in a purchase."),
            ),
        ),
        Entity(
            name="calendar",
            description="One row per dated calendar event (holiday, sport, promotion, pay day) a shop or market "
                        "knows in advance; the forecaster's known-future covariates.",
            key=("calendar_date", "event_name"),
            time_column="calendar_date",
            hourly=False,
            columns=(
                _c("calendar_date", "date", False),
                _c("event_name", "string", False, "e.g. 'SuperBowl', 'Christmas', 'payday'."),
                _c("event_type", "string", description="Free text class, e.g. 'sporting', 'religious', 'national'."),
                _c("store_id", "string", description="Null: applies to every store/region."),
                _c("region", "string", description="Null: applies everywhere."),
            ),
        ),
    )
}

# Columns the loader fills itself (a mapping must not map them): the flag from ``amount``,
# and the JSON of the mapping's ``features:`` declaration.
LOADER_FILLED: dict[str, tuple[str, ...]] = {
    "transactions": ("is_non_positive_amount", "extra_features"),
    "events": ("extra_features",),
    "products": ("extra_features",),
    "users": ("extra_features",),
}
EXTRA_FEATURE_ENTITIES = ("events", "transactions", "products", "users")
EXTRA_FEATURE_TYPES = ("numeric", "categorical")

# Foreign keys checked at load time: (entity, column) -> the entity whose key it names.
# Only user and product references: those are the entities sources deliver on their own
# (a clickstream-only source has neither, and then the check is skipped, not failed).
REFERENCES: dict[tuple[str, str], str] = {
    ("events", "user_id"): "users",
    ("events", "product_id"): "products",
    ("order_lines", "user_id"): "users",
    ("order_lines", "product_id"): "products",
    ("transactions", "user_id"): "users",
    ("prices", "product_id"): "products",
    ("inventory", "product_id"): "products",
    ("daily_sales", "product_id"): "products",
    ("sessions", "user_id"): "users",
}

# Columns that must never reach the warehouse in clear text. Sources that
# carry them map them onto these names; ingestion hashes them into the
# matching ``*_hash`` column and drops the clear value.
PII_SOURCE_COLUMNS: dict[str, str] = {
    "email": "email_hash",
    "name": "name_hash",
    "ip": "ip_hash",
    "ip_address": "ip_hash",
    "card_number": "card_hash",
}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(
            f"unknown entity {name!r}; canonical entities are {sorted(ENTITIES)}"
        ) from None
