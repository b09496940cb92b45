"""Reading the search log, the catalogue and the users' history from the warehouse.

- Search log: ``staging.stg_raw__search_impressions`` (one row per shown result) joined with
  the search event in ``marts.fct_events`` (query, user, session). The impressions entity is
  read from staging because no mart needs it yet; the staging view is typed and deduplicated.
- Catalogue: ``marts.dim_products`` (title, description, brand, category, list price).
- History: product interactions (``tasks.train.data.read_interactions``: view/cart/purchase
  events, or order lines for sources without a clickstream) and clicked search results.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from tasks.train.data import read_interactions
from tasks.train.search_ranker.config import GAIN_CLICK, GAIN_PURCHASE
from tasks.train.search_ranker.features import ANONYMOUS, Catalogue, History, day_number
from tasks.warehouse import read_frame, table_exists

IMPRESSIONS_TABLE = "staging.stg_raw__search_impressions"
EVENTS_TABLE = "marts.fct_events"
PRODUCTS_TABLE = "marts.dim_products"
LOG_COLUMNS = ["search_event_id", "user_id", "query", "searched_at", "product_id", "position",
               "is_clicked", "is_purchased"]


def read_search_log(start: datetime, end: datetime, clicked_only: bool = False) -> pd.DataFrame:
    """Shown results of searches in ``[start, end)`` with their query and user (empty without);
    ``clicked_only``: just the clicked ones (what scoring needs: the users' click history)."""
    if not (table_exists(IMPRESSIONS_TABLE) and table_exists(EVENTS_TABLE)):
        return pd.DataFrame(columns=LOG_COLUMNS)
    frame = read_frame(
        f"SELECT i.search_event_id, e.user_id, e.query, i.searched_at, i.product_id, i.position, "
        f"i.is_clicked, i.is_purchased FROM {IMPRESSIONS_TABLE} AS i "
        f"JOIN {EVENTS_TABLE} AS e ON e.event_id = i.search_event_id "
        "WHERE i.searched_at >= :s AND i.searched_at < :e AND e.query IS NOT NULL "
        + ("AND i.is_clicked " if clicked_only else "") +
        "ORDER BY i.searched_at, i.search_event_id, i.position",
        {"s": start, "e": end},
    )
    return frame[LOG_COLUMNS]


def read_frequent_queries(start: datetime, end: datetime, limit: int) -> list[str]:
    """The ``limit`` queries searched most often in ``[start, end)`` (ties alphabetical)."""
    if not table_exists(EVENTS_TABLE):
        return []
    frame = read_frame(
        f"SELECT query, COUNT(*) AS n FROM {EVENTS_TABLE} WHERE event_type = 'search' AND query IS NOT NULL "
        "AND event_at >= :s AND event_at < :e GROUP BY query ORDER BY n DESC, query LIMIT :k",
        {"s": start, "e": end, "k": limit},
    )
    return [str(q) for q in frame["query"]]


def read_daily_search_counts(start: datetime, end: datetime) -> pd.Series:
    """Search events per UTC day in ``[start, end)`` (day -> count; empty without events)."""
    if not table_exists(EVENTS_TABLE):
        return pd.Series(dtype=float)
    frame = read_frame(
        f"SELECT CAST(event_at AS DATE) AS d, COUNT(*) AS n FROM {EVENTS_TABLE} WHERE event_type = 'search' "
        "AND event_at >= :s AND event_at < :e GROUP BY 1 ORDER BY 1", {"s": start, "e": end})
    return pd.Series(frame["n"].to_numpy(dtype=float), index=pd.to_datetime(frame["d"]))


def log_start(counts: pd.Series, start: datetime, end: datetime, holdout_days: int, validation_days: int,
              max_train_searches: int) -> datetime:
    """The first day of the search log to read: the holdout and validation days, then as many
    earlier days as hold at most ``max_train_searches`` searches (at least one day), never before
    ``start``. Bounds memory and reading time on large shops; on S it is the whole window."""
    train_end = pd.Timestamp(end).normalize() - pd.Timedelta(days=holdout_days + validation_days)
    before = counts[counts.index < train_end].sort_index(ascending=False)
    if before.empty:
        return start
    days = max(1, int((before.cumsum() <= max_train_searches).sum()))
    first = before.index[days - 1]
    return max(start, first.to_pydatetime())


def read_products() -> pd.DataFrame:
    cols = ["product_id", "title", "description", "brand", "category", "list_price"]
    if not table_exists(PRODUCTS_TABLE):
        return pd.DataFrame(columns=cols)
    products = read_frame(f"SELECT * FROM {PRODUCTS_TABLE} ORDER BY product_id")
    for col in cols:
        if col not in products:
            products[col] = None
    products["product_id"] = products["product_id"].astype(str)
    return products[cols]


def interactions_with_category(events: pd.DataFrame, lines: pd.DataFrame,
                               catalogue: Catalogue) -> pd.DataFrame:
    """user_id, product_id, category, day of every product interaction (events when the source
    has a clickstream, else order lines: never both, so a purchase is not counted twice)."""
    if not events.empty:
        frame = pd.DataFrame({"user_id": events["user_id"], "product_id": events["product_id"],
                              "at": events["event_at"]})
    elif not lines.empty:
        frame = pd.DataFrame({"user_id": lines["user_id"], "product_id": lines["product_id"],
                              "at": lines["ordered_at"]})
    else:
        return pd.DataFrame({"user_id": [], "product_id": [], "category": [], "day": []})
    frame = frame.dropna(subset=["user_id", "product_id"])
    frame["user_id"] = frame["user_id"].astype(str)
    frame["product_id"] = frame["product_id"].astype(str)
    pos = frame["product_id"].map(catalogue.index.position)
    frame = frame[pos.notna()]
    frame["category"] = catalogue.category[pos[pos.notna()].astype(int).to_numpy()]
    frame["day"] = day_number(frame["at"])
    return frame[["user_id", "product_id", "category", "day"]].reset_index(drop=True)


def labelled_rows(log: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """The log with catalogue positions, day, user key and graded gain (purchase 2, click 1);
    results of products missing from the catalogue are dropped (nothing to score them by)."""
    pos = log["product_id"].astype(str).map(catalogue.index.position)
    rows = log[pos.notna()].copy()
    rows["pos"] = pos[pos.notna()].astype(int).to_numpy()
    rows["day"] = day_number(rows["searched_at"])
    rows["user_key"] = rows["user_id"].where(rows["user_id"].notna(), ANONYMOUS).astype(str)
    clicked = rows["is_clicked"].astype(bool).to_numpy()
    bought = rows["is_purchased"].astype(bool).to_numpy()
    rows["gain"] = np.where(bought, GAIN_PURCHASE, np.where(clicked, GAIN_CLICK, 0.0))
    rows["query"] = rows["query"].astype(str)
    return rows.reset_index(drop=True)


def build_history(log_rows: pd.DataFrame, interactions: pd.DataFrame, catalogue: Catalogue,
                  start_day: int) -> History:
    """Point-in-time history from interactions and the clicked results of ``log_rows``."""
    clicked = log_rows[log_rows["gain"] > 0]
    clicks = pd.DataFrame({"user_id": clicked["user_key"].to_numpy(), "day": clicked["day"].to_numpy(),
                           "price_ratio": catalogue.price_ratio[clicked["pos"].to_numpy()],
                           "brand": catalogue.brand[clicked["pos"].to_numpy()]})
    clicks = clicks[clicks["user_id"] != ANONYMOUS]
    return History(interactions, clicks, start_day)


def read_history_inputs(start: datetime, end: datetime, catalogue: Catalogue) -> pd.DataFrame:
    events, lines = read_interactions(start, end)
    return interactions_with_category(events, lines, catalogue)
