"""The dbt staging and intermediate models' columns, declared once.

Staging (``dbt_project/models/staging/stg_raw__<entity>.sql``) is one view per raw table that
casts, trims and dedupes it; intermediate (``dbt_project/models/intermediate/*.sql``) holds the
logic several marts share. Neither is read by Python, so their contract is documentation plus
dbt tests, but it is still written once: here. ``python -m tasks.contracts.generate`` writes from
it ``models/staging/_staging__models.yml``, ``models/intermediate/_intermediate__models.yml``
(``dbt_staging_models``) and ``docs/staging_schema.md`` (``staging_schema_doc``);
``tests/test_staging_contracts_declared_once.py`` fails when one drifts or when a declared
column or type differs from what dbt builds.

What comes from where, so nothing is typed twice:

- a staging column that is a raw column (possibly renamed) takes its type, nullability, allowed
  values and, unless the model's text says more, its description from ``tasks/ingest/schema.py``;
  the model's key is the raw entity's key. The loader refuses a null in a required raw column,
  so ``not_null`` holds on the view that casts it;
- an intermediate column that passes a staging column through is that staging column;
- only what the SQL adds (partition columns, derived flags, aggregates) is declared here.

``nullable=False`` is a dbt ``not_null`` test, a one-column key a ``unique`` test, a key of
several columns a ``unique_combination_of_columns`` test, and allowed values an
``accepted_values`` test pinned to the raw column. ``sql_type`` is the type the model casts to,
spelled as DuckDB and PostgreSQL share it; it is documentation (``data_type``), not an enforced
contract, since these views are internal to the dbt project.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tasks.contracts.columns import ColumnLookup
from tasks.ingest.schema import entity

# Raw type -> the SQL type a staging model casts it to (``integer`` only where the SQL says so).
SQL_TYPES = {"string": "text", "int": "bigint", "float": "double precision", "bool": "boolean",
             "timestamp": "timestamp", "date": "date"}
SQL_VOCABULARY = (*SQL_TYPES.values(), "integer")


@dataclass(frozen=True)
class StagingColumn:
    """One column of a staging or intermediate model.

    ``derived_from``: ``"raw.<entity>.<column>"`` or ``"<model>.<column>"`` when the column is
    that one (cast, trimmed or renamed), for the docs' lineage. ``values_from``: the raw column
    whose ``allowed_values`` these are (the dbt line carries a ``# contract:`` pin).
    """

    name: str
    sql_type: str
    nullable: bool = True
    description: str = ""
    allowed_values: tuple[str, ...] = ()
    values_from: str = ""
    derived_from: str = ""

    def __post_init__(self) -> None:
        if self.sql_type not in SQL_VOCABULARY:
            raise ValueError(f"column {self.name!r}: type {self.sql_type!r} is not one of {list(SQL_VOCABULARY)}")
        if not self.description:
            raise ValueError(f"column {self.name!r}: every staging/intermediate column needs a description")


@dataclass(frozen=True)
class StagingModel(ColumnLookup[StagingColumn]):
    """One staging or intermediate model; ``key`` is its grain (``description`` says "One row per ...")."""

    name: str
    layer: str
    description: str
    key: tuple[str, ...]
    columns: tuple[StagingColumn, ...]

    @property
    def all_columns(self) -> tuple[StagingColumn, ...]:
        return self.columns

    @property
    def _column_owner(self) -> str:
        return f"{self.layer}.{self.name}"


def _raw(entity_name: str, column: str, description: str | None = None, *, name: str | None = None,
         sql_type: str | None = None) -> StagingColumn:
    """Raw ``<entity_name>.<column>`` as staging selects it (renamed to ``name``, cast to ``sql_type``)."""
    raw = entity(entity_name).column(column)
    pinned = f"{entity_name}.{column}" if raw.allowed_values else ""
    return StagingColumn(name or column, sql_type or SQL_TYPES[raw.type], raw.nullable, description or raw.description,
                         raw.allowed_values, pinned, f"raw.{entity_name}.{column}")


def _stage(entity_name: str, description: str, *columns: StagingColumn | tuple) -> StagingModel:
    """``stg_raw__<entity_name>``; a plain tuple ``(column, description?)`` is that raw column."""
    built = tuple(c if isinstance(c, StagingColumn) else _raw(entity_name, *c) for c in columns)
    # dt, hr and _source are the columns the loader adds to every raw table
    built = tuple(dataclasses.replace(c, derived_from=f"raw.{entity_name}.{_LOADER_COLUMNS[c.name]}")
                  if c.name in _LOADER_COLUMNS and not c.derived_from else c for c in built)
    return StagingModel(f"stg_raw__{entity_name}", "staging", description, entity(entity_name).key, built)


_LOADER_COLUMNS = {"dt": "dt", "hr": "hr", "source_name": "_source"}


def _dt(description: str = "Raw partition date.") -> StagingColumn:
    return StagingColumn("dt", "date", description=description)


def _hr(description: str = "Raw partition hour.") -> StagingColumn:
    return StagingColumn("hr", "integer", description=description)


def _source_name(description: str = "Source spec.") -> StagingColumn:
    return StagingColumn("source_name", "text", description=description)


_EXTRA_FEATURES = ("extra_features", "The shop's own signals declared in the mapping (`features:`), a JSON "
                   "object as text; null without any.")

_STAGING = (
    _stage("users", "One row per user account (user_id), latest partition's copy of each user.",
           ("user_id", "Stable user/customer id (primary key)."), ("signup_at",),
           ("country", "Country as delivered by the source (trimmed, empty -> null)."), ("email_hash",),
           ("name_hash",), _dt("Raw partition date the row came from."),
           _hr("Raw partition hour (null for daily entities)."), _source_name("Source spec that produced the row.")),
    _stage("products", "One row per product (product_id), latest partition's copy; `price` renamed list_price.",
           ("product_id", "Product id (primary key)."), ("title", "Product title."),
           ("description", "Long description."), ("category", "Category label."), ("brand", "Brand."),
           _raw("products", "price", name="list_price"), ("currency", "ISO currency code, upper case."),
           ("created_at", "First listed, UTC."), _dt(), _hr("Always null (daily entity)."), _source_name()),
    _stage("events", "One row per behaviour event (event_id); event_type lower-cased.",
           ("event_id", "Event id (primary key)."), ("session_id", "Browsing session the event belongs to."),
           ("user_id", "User, null for anonymous sessions."),
           ("event_type", "What the user did; one of the event types declared in tasks/ingest/schema.py."),
           ("product_id", "Product, null for search events."), ("query",), ("price",),
           ("device", "Device class, lower case."),
           StagingColumn("category", "text", description="Category carried on the event by sources without a "
                         "products file (optional raw column `category`; null when the source has none). "
                         "dim_products derives categories from it."),
           _EXTRA_FEATURES, ("event_at", "Event time, UTC."), _dt(), _hr(), _source_name()),
    _stage("order_lines", "One row per order line (order_id, line_number); is_cancellation defaulted from the "
           "quantity sign.",
           ("order_id", "Order/invoice id."), ("line_number", "Line within the order (1-based)."),
           ("user_id", "Buying user (null for guest orders)."), ("product_id", "Product ordered."), ("quantity",),
           ("unit_price", "Price per unit."), ("currency", "ISO currency code."),
           ("country", "Shipping/customer country."),
           ("is_cancellation", "True when the line cancels units (source flag, else quantity < 0)."),
           ("ordered_at", "Order time, UTC."), _dt(), _hr(), _source_name()),
    _stage("transactions", "One row per payment attempt (transaction_id).",
           ("transaction_id", "Payment attempt id (primary key)."), ("order_id", "Order paid for, when known."),
           ("user_id", "Paying user."), ("amount", "Amount charged."), ("currency", "ISO currency code."),
           ("payment_method", "card, paypal, bank_transfer, wallet, unknown, ..."),
           ("device_id", "Client device id."), ("country", "Country of the payment."), ("ip_hash",),
           ("card_hash",), ("is_fraud",), ("transaction_at", "Attempt time, UTC."),
           ("is_non_positive_amount", "amount <= 0 (zero-amount authorisation, reversal); kept as a risk signal, "
            "never quarantined."),
           _EXTRA_FEATURES, _dt(), _hr(), _source_name()),
    _stage("prices", "One row per price change (product_id, valid_from).",
           ("product_id", "Product."), ("price", "Price from valid_from on."),
           ("is_promo", "Promotional price (false when unknown)."), ("valid_from", "Change time, UTC."),
           _dt(), _source_name()),
    _stage("inventory", "One row per stock snapshot (product_id, snapshot_at).",
           ("product_id", "Product."), ("stock_quantity",), ("snapshot_at", "Snapshot time, UTC."),
           _dt(), _source_name()),
    _stage("daily_sales", "One row per product, store and day (product_id, store_id, sales_date).",
           ("product_id", "Product."), ("store_id", "Store, 'all' when the source has none."),
           ("units", "Units sold."), ("revenue", "Revenue."), ("price", "Average selling price."),
           ("is_promo", "Promotion that day (false when unknown)."), ("sales_date", "Sales day."),
           _dt(), _source_name()),
    _stage("sessions", "One row per browsing session (session_id), for sources with session aggregates only.",
           ("session_id", "Session id (primary key)."), ("user_id", "User, when known."),
           ("started_at", "Session start, UTC."), ("n_events", "Events in the session."),
           ("n_product_views", "Product page views."), ("duration_seconds", "Session length in seconds."),
           ("bounce_rate", "Source's bounce rate metric."), ("exit_rate", "Source's exit rate metric."),
           ("page_value", "Source's page value metric."), ("visitor_type", "New/Returning/Other."),
           ("is_weekend", "Session on a weekend."), ("device", "Device class."), ("region", "Region code/name."),
           ("has_purchase",), _dt(), _source_name()),
    _stage("calendar", "One row per dated calendar event (calendar_date, event_name), latest partition's copy; "
           "for sources with an events-calendar file (empty otherwise).",
           ("calendar_date", "Day of the event."),
           ("event_name", "Event name as delivered (trimmed), e.g. Christmas, SuperBowl, payday."),
           ("event_type", "Event class, lower case (sporting, religious, national, ...); null when unknown."),
           ("store_id", "Store the event applies to; null for every store."),
           ("region", "Region the event applies to; null for everywhere."), _dt(), _source_name()),
    _stage("campaign_exposures", "One row per (campaign_id, user_id): a user assigned to a past campaign, sent "
           "it (is_treated) or held out as randomised control, with the attributed conversion; the uplift "
           "model's training data (tasks/train/uplift). Empty for sources without campaigns.",
           ("campaign_id", "Campaign id."), ("user_id", "User assigned to the campaign."),
           ("channel", "Channel, lower case (email, push, sms, ...)."),
           ("target_category", "Product category the campaign promoted, lower case."), ("is_treated",),
           ("exposed_at",), ("converted_at",), ("reported_at",),
           StagingColumn("is_converted", "boolean", description="converted_at is not null."),
           _dt(), _source_name()),
    _stage("search_impressions", "One row per (search_event_id, product_id): a product shown for a search event, "
           "with its position and whether it was clicked and bought; the search ranker's training data "
           "(tasks/train/search_ranker). Empty for sources without search result logs.",
           ("search_event_id", "event_id of the search event (stg_raw__events, event_type search)."),
           ("product_id",), _raw("search_impressions", "position", sql_type="integer"), ("is_clicked",),
           ("is_purchased",), ("searched_at",), _dt(), _source_name()),
)


def _passed(model: StagingModel, column: str, **changes: object) -> StagingColumn:
    """``model``'s column as a later model selects it unchanged (``changes``: what that model adds)."""
    return dataclasses.replace(model.column(column), derived_from=f"{model.name}.{column}", **changes)


_STAGED = {m.name: m for m in _STAGING}
_LINES = _STAGED["stg_raw__order_lines"]
_ENRICHED = StagingModel(
    "int_order_lines_enriched", "intermediate",
    "One row per order line (order_id, line_number) with line_amount and order_date derived.",
    _LINES.key,
    (*(_passed(_LINES, c) for c in ("order_id", "line_number", "user_id", "product_id", "quantity", "unit_price")),
     StagingColumn("line_amount", "double precision", description="quantity * unit_price (negative for "
                   "cancellations)."),
     *(_passed(_LINES, c) for c in ("currency", "country", "is_cancellation", "ordered_at")),
     StagingColumn("order_date", "date", description="UTC date of ordered_at.")),
)
_FIRST_ORDERS = StagingModel(
    "int_users_first_orders", "intermediate",
    "One row per user_id seen on order lines, with first non-cancelled order and order count.",
    ("user_id",),
    (_passed(_ENRICHED, "user_id", nullable=False, description="User (primary key)."),
     StagingColumn("first_order_at", "timestamp", description="Earliest non-cancelled order line time; null if "
                   "the user only cancelled."),
     StagingColumn("first_seen_at", "timestamp", description="Earliest order line of any kind (used when the "
                   "source has no users table)."),
     StagingColumn("n_orders", "bigint", description="Distinct non-cancelled orders.")),
)

STAGING_MODELS: dict[str, StagingModel] = {**_STAGED, _ENRICHED.name: _ENRICHED, _FIRST_ORDERS.name: _FIRST_ORDERS}
LAYERS = ("staging", "intermediate")


def models(layer: str) -> list[StagingModel]:
    """The declared models of ``layer`` in declaration order."""
    return [m for m in STAGING_MODELS.values() if m.layer == layer]
