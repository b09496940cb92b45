"""The canonical raw schema every source is mapped into: each raw warehouse table's contract.

This module is the one declaration of every ``raw.*`` table: columns, types, nullability,
key, grain (``Entity.description`` starts with "One row per ..."), allowed values and value
bounds. Everything else is derived from it, so adding a column touches this file plus the
code that fills it:

- the loader creates the tables and validates rows from it at run time
  (``tasks/ingest/load.py``, ``tasks/ingest/validate.py``: required values, allowed values,
  bounds), and Spark reads the lake with it (``tasks/features/lake_io.py``);
- ``python -m tasks.contracts.generate`` writes the dbt sources
  (``dbt_project/models/staging/_raw__sources.yml``), the generated part of each GX raw suite
  (``expectations/raw_<entity>.yml``), ``docs/canonical_schema.md`` and the lists pinned to
  a column elsewhere; ``tests/test_contracts_declared_once.py`` fails when any of them drifts.

Sources (synthetic generator, public-set adapters, user mapping files) only have to produce
frames with these column names; typing, validation, quarantine, landing and loading are shared.

Types are a small vocabulary so they map cleanly onto Parquet, DuckDB,
PostgreSQL and Spark: string, int, float, bool, timestamp (UTC, naive in
storage), date.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.contracts.columns import ColumnLookup, column_factory

TYPES = ("string", "int", "float", "bool", "timestamp", "date")

# The only definition of the behaviour event types: everything else imports it or is generated
# (the synthetic generator unpacks it in this order).
EVENT_TYPES = ("view", "cart", "purchase", "search")
# Rows quarantined for a reason that says nothing about the quality of the load carry this in
# their reason: they are kept (input = accepted + quarantined) but not counted against the
# quarantine limit, which guards against bad input. A row with any other reason too counts
# (``validate.not_counted``); such reasons therefore hold no "; " (the reason separator).
NOT_COUNTED = "not counted against the quarantine limit"
# A mapping's ``event_type_map: {ignore: [...]}`` marks source values no canonical type covers
# (``remove_from_cart``): the source gives them this prefix, the loader quarantines them with
# IGNORED_REASON.
IGNORED_VALUE_PREFIX = "ignored:"
IGNORED_REASON = f"is ignored by the mapping (event_type_map.ignore, {NOT_COUNTED})"
# A calendar row without an event name is a date with no event (a one-row-per-date calendar
# file, as daily-sales panels ship), not a broken row.
NO_EVENT_REASON = f"event_name: empty: no event on this date ({NOT_COUNTED})"
# Event types that are about one product (a search is not): the loader requires product_id on them.
PRODUCT_EVENT_TYPES = tuple(t for t in EVENT_TYPES if t != "search")
PAYMENT_METHODS_EXAMPLE = ("card", "paypal", "bank_transfer", "wallet", "unknown")


@dataclass(frozen=True)
class Column:
    """One column's contract.

    ``allowed_values`` and ``min_value``/``strict_min`` are value rules the loader enforces
    (a violating row is quarantined) and the raw GX suite re-checks on what was loaded; keeping
    them here is what makes the gate "no looser and no stricter than the loader".
    """

    name: str
    type: str
    nullable: bool = True
    description: str = ""
    allowed_values: tuple[str, ...] = ()
    min_value: float | None = None
    strict_min: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name!r}: type {self.type!r} is not one of {list(TYPES)}")
        if self.min_value is None and self.strict_min:
            raise ValueError(f"column {self.name!r}: strict_min without min_value")

    @property
    def rule_text(self) -> str:
        """The value rules in words (docs), empty without any."""
        rules = []
        if self.allowed_values:
            rules.append("one of " + ", ".join(f"`{v}`" for v in self.allowed_values))
        if self.min_value is not None:
            rules.append(f"{'>' if self.strict_min else '>='} {self.min_value:g}")
        return "; ".join(rules)


@dataclass(frozen=True)
class Entity(ColumnLookup[Column]):
    """One canonical raw table (``column_names``, ``required``, ``column(name)``: ``ColumnLookup``).

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
    def all_columns(self) -> tuple[Column, ...]:
        """The columns (the serving and marts tables' name, for ``ColumnLookup``)."""
        return self.columns

    @property
    def _column_owner(self) -> str:
        return f"entity {self.name!r}"


_c = column_factory(Column)


# Filled by the loader from the mapping's ``features:`` (see ``LOADER_FILLED``).
_EXTRA_FEATURES = Column(
    "extra_features", "string", description="Shop-specific model features declared in the mapping "
    "(`features:`), as a JSON object: numbers for numeric, text for categorical; null without any.")
# A price, wherever one is given, is positive: zero and negative prices are quarantined.
_POSITIVE: dict[str, object] = {"min_value": 0, "strict_min": True}


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
                _EXTRA_FEATURES,
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
                _c("price", "float", description="List price when first listed.", **_POSITIVE),
                _c("currency", "string"),
                _c("created_at", "timestamp", False),
                _EXTRA_FEATURES,
            ),
        ),
        Entity(
            name="events",
            description=f"One row per behaviour event ({', '.join(EVENT_TYPES)}).",
            key=("event_id",),
            time_column="event_at",
            hourly=True,
            columns=(
                _c("event_id", "string", False),
                _c("session_id", "string", False),
                _c("user_id", "string", description="Null for anonymous sessions."),
                _c("event_type", "string", False, "What the user did.", allowed_values=EVENT_TYPES),
                _c("product_id", "string", description="Null for search events; required on the others."),
                _c("query", "string", description="Search text for search events."),
                _c("price", "float", description="Price shown at event time.", **_POSITIVE),
                _c("device", "string"),
                _c("event_at", "timestamp", False),
                _EXTRA_FEATURES,
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
                _c("unit_price", "float", False, **_POSITIVE),
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
                _EXTRA_FEATURES,
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
                _c("price", "float", False, **_POSITIVE),
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
                _c("stock_quantity", "int", False, "Units on hand.", min_value=0),
                _c("snapshot_at", "timestamp", False),
                # Replenishment inputs (the inventory policy uses its defaults when a source has none).
                _c("on_order", "int", description="Units ordered from the supplier, not yet received.",
                   min_value=0),
                _c("lead_time_days", "int", description="Supplier lead time: days from order to receipt.",
                   min_value=0),
                _c("pack_size", "int", description="Units per supplier pack (orders are whole packs).",
                   min_value=0, strict_min=True),
                _c("moq", "int", description="Minimum order quantity in units.", min_value=0),
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
                _c("units", "float", False, "Negative when returns exceed sales (negative demand)."),
                _c("revenue", "float"),
                _c("price", "float", **_POSITIVE),
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
        # --- campaign_exposures (issue 13: campaign audiences; tasks/train/uplift) ---
        Entity(
            name="campaign_exposures",
            description="One row per user assigned to a past marketing campaign (sent it, or held out as "
                        "randomised control), with the campaign's attributed conversion; reported when the "
                        "attribution window closes.",
            key=("campaign_id", "user_id"),
            time_column="reported_at",
            hourly=False,
            columns=(
                _c("campaign_id", "string", False),
                _c("user_id", "string", False),
                _c("channel", "string", description="e.g. 'email', 'push', 'sms'."),
                _c("target_category", "string", description="The product category the campaign promoted."),
                _c("is_treated", "bool", False, "True: the user was sent the campaign; false: randomised "
                   "hold-out (control), assigned at the same instant."),
                _c("exposed_at", "timestamp", False, "Send (or hold-out assignment) time (UTC)."),
                _c("converted_at", "timestamp", description="First purchase in the target category within the "
                   "attribution window, as the campaign platform attributed it; null: no conversion."),
                _c("reported_at", "timestamp", False, "When the attribution window closed and the outcome "
                   "was reported; partitions the entity, so no partition holds an outcome from its future."),
            ),
        ),
        # --- end campaign_exposures
        # --- search_impressions (issue 13: personalised search; tasks/train/search_ranker) ---
        Entity(
            name="search_impressions",
            description="One row per product shown for a search event (search_event_id = the events row "
                        "with event_type 'search'), with its position and whether it was clicked and bought.",
            key=("search_event_id", "product_id"),
            time_column="searched_at",
            hourly=False,
            columns=(
                _c("search_event_id", "string", False, "event_id of the search event (query, user, session)."),
                _c("product_id", "string", False, "Product shown in the result list."),
                _c("position", "int", False, "1-based position in the list the shop showed.", min_value=1),
                _c("is_clicked", "bool", False, "The searcher opened the result."),
                _c("is_purchased", "bool", False, "The searcher bought the product after clicking it."),
                _c("searched_at", "timestamp", False, "Time of the search (the search event's event_at, UTC)."),
            ),
        ),
        # --- end search_impressions
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
    ("campaign_exposures", "user_id"): "users",
    ("search_impressions", "product_id"): "products",
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
