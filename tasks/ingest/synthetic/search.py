"""Search result impressions: what the shop showed for each ``search`` event, and what was clicked
and bought (the ``search_impressions`` entity, issue 13).

The shop's current engine is a deterministic lexical one: for a query on a day it shows the
``SHOWN_PER_SEARCH`` active products with the most query tokens in their title and description,
then products of the query's category ("related results") when too few match; ties in catalogue
order. Whether a shown product is clicked depends on planted relevance, documented in
``docs/synthetic_ground_truth.md`` ("Search relevance"), so a ranker has something true to learn:

``utility = TITLE_MATCH x title coverage + DESCRIPTION_MATCH x description coverage``
``        + CATEGORY_PREFERENCE x clip(log(n_categories x user's preference for the category), +-2)``
``        + POPULARITY x z(log popularity) - price sensitivity x PRICE x clip(log(price / category median), +-1)``
``        + FAVOURITE_BRAND x [the product's brand is the user's favourite brand of its category]``
``        + logistic noise``;
``P(click) = examination(position) x sigmoid(utility - CLICK_BIAS)``,
``P(purchase | click) = PURCHASE_SHARE x sigmoid(utility - PURCHASE_BIAS)``.

Price sensitivity and the favourite brand per category are hidden per-user traits drawn here
(anonymous searchers get the mean sensitivity and no favourite brand): only the user's earlier
clicks on search results reveal them. Category preference is the same Dirichlet preference that drives every other event, so a
user's past views and purchases reveal it. Everything is drawn from its own stream
(``numpy.random.default_rng([seed, SEARCH_STREAM])``) after all other entities are built,
so adding this entity left every other entity byte-identical.
"""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd

from tasks.ingest.synthetic.catalog import Catalog
from tasks.ingest.synthetic.customers import Customers
from tasks.ingest.synthetic.vocabulary import CATEGORIES

SEARCH_STREAM = 0x5EA2C4  # a constant of its own: never shared with another component
SHOWN_PER_SEARCH = 20
TITLE_MATCH = 1.5
DESCRIPTION_MATCH = 0.4
CATEGORY_PREFERENCE = 2.0
POPULARITY = 1.0
PRICE = 2.5
FAVOURITE_BRAND = 2.0
PRICE_SENSITIVITY_RANGE = (0.0, 1.5)
EXAMINATION_DECAY = 0.02  # examination(position) = 1 / (1 + decay x (position - 1))
CLICK_BIAS = 3.0
NOISE_SCALE = 0.3
PURCHASE_SHARE = 0.4
PURCHASE_BIAS = 2.0
TOKEN_RE = re.compile(r"[a-z0-9]+")


def tokens(text: str | None) -> set[str]:
    """Lower-case alphanumeric tokens (the one tokeniser for queries, titles and descriptions)."""
    return set(TOKEN_RE.findall(str(text).lower())) if text is not None else set()


def _noun_category() -> dict[str, int]:
    return {noun: i for i, cat in enumerate(CATEGORIES) for noun in cat.nouns}


def query_category(query: str, noun_category: dict[str, int]) -> int:
    """The category whose noun ends the query (every generated query ends with its noun)."""
    for noun, cat in sorted(noun_category.items(), key=lambda item: -len(item[0])):
        if query.endswith(noun):
            return cat
    return -1


def build_search_impressions(seed: int, events: pd.DataFrame, catalog: Catalog, customers: Customers,
                             start: datetime) -> pd.DataFrame:
    """One row per (search event, shown product): position, is_clicked, is_purchased, searched_at."""
    rng = np.random.default_rng([seed, SEARCH_STREAM])
    searches = events[events["event_type"] == "search"].reset_index(drop=True)
    products = catalog.products
    n_products = len(products)
    title_tokens = [tokens(t) for t in products["title"]]
    desc_tokens = [tokens(d) for d in products["description"]]
    noun_category = _noun_category()
    sensitivity = rng.uniform(*PRICE_SENSITIVITY_RANGE, size=len(customers.user_ids))
    n_brands = len(CATEGORIES[0].brands)
    favourite_brand = rng.integers(0, n_brands, size=(len(customers.user_ids), len(CATEGORIES)))
    brand_index = np.array([CATEGORIES[c].brands.index(b) if b in CATEGORIES[c].brands else -1
                            for c, b in zip(catalog.category, products["brand"], strict=True)])
    start_day = pd.Timestamp(start)

    # Per distinct query: title/description coverage of every product (shared by all its searches).
    queries = searches["query"].astype(str).to_numpy()
    distinct, query_idx = np.unique(queries, return_inverse=True)
    query_tokens = [tokens(q) for q in distinct]
    q_cat = np.array([query_category(q, noun_category) for q in distinct], dtype=np.int64)
    # Token incidence matrices: coverage = shared tokens / query tokens, as one matrix product.
    vocab = {w: i for i, w in enumerate(sorted(set().union(*query_tokens)))}

    def incidence(token_sets: list[set[str]]) -> np.ndarray:
        out = np.zeros((len(token_sets), len(vocab)), dtype=np.float32)
        for row, words in enumerate(token_sets):
            out[row, [vocab[w] for w in words if w in vocab]] = 1.0
        return out

    q_matrix = incidence(query_tokens)
    # Shared-token counts are exact in float32; the division is float64 like len(a & b) / len(a).
    q_len = np.maximum(q_matrix.sum(axis=1, keepdims=True), 1.0).astype(np.float64)
    title_cov = (q_matrix @ incidence(title_tokens).T).astype(np.float64) / q_len
    desc_cov = (q_matrix @ incidence(desc_tokens).T).astype(np.float64) / q_len

    # The legacy engine's list per (query, day): lexical score, then related products of the category.
    day = ((pd.to_datetime(searches["event_at"]) - start_day) // pd.Timedelta(days=1)).to_numpy()
    day = np.clip(day, 0, catalog.price.shape[1] - 1)
    group_key = query_idx.astype(np.int64) * (catalog.price.shape[1] + 1) + day
    # The engine's order of the whole catalogue per query; a day shows its first active products.
    ranked = []
    for qi in range(len(distinct)):
        lexical = 2.0 * title_cov[qi] + desc_cov[qi]
        score = np.where(lexical > 0, 1.0 + lexical, np.where(catalog.category == q_cat[qi], 0.5, -1.0))
        order = np.lexsort((np.arange(n_products), -score))
        ranked.append(order[score[order] > 0])
    shown: dict[int, np.ndarray] = {}
    for key in np.unique(group_key):
        qi, d = divmod(int(key), catalog.price.shape[1] + 1)
        shown[int(key)] = ranked[qi][catalog.active_from_day[ranked[qi]] <= d][:SHOWN_PER_SEARCH]

    lists = [shown[int(k)] for k in group_key]
    n_shown = np.array([len(x) for x in lists], dtype=np.int64)
    row_search = np.repeat(np.arange(len(searches)), n_shown)
    prod = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
    position = np.arange(len(row_search)) - np.repeat(np.cumsum(n_shown) - n_shown, n_shown) + 1

    # Planted relevance.
    user_index = pd.Series(np.arange(len(customers.user_ids)), index=customers.user_ids)
    user = searches["user_id"].map(user_index).fillna(-1).astype(np.int64).to_numpy()[row_search]
    known = user >= 0
    cat = catalog.category[prod]
    n_cat = len(CATEGORIES)
    global_share = np.bincount(catalog.category, minlength=n_cat) / n_products
    pref = np.where(known, customers.preference[np.maximum(user, 0), cat], global_share[cat])
    pref_term = np.clip(np.log(np.maximum(pref, 1e-9) * n_cat), -2.0, 2.0)
    log_pop = np.log(catalog.popularity)
    pop_term = ((log_pop - log_pop.mean()) / (log_pop.std() or 1.0))[prod]
    median_price = np.array([c.median_price for c in CATEGORIES])[cat]
    # Clipped: a bargain attracts, but a 90 %-off pasta must not outrank the olive oil searched for.
    price_term = np.clip(np.log(catalog.price[prod, day[row_search]] / median_price), -1.0, 1.0)
    sens = np.where(known, sensitivity[np.maximum(user, 0)], np.mean(PRICE_SENSITIVITY_RANGE))
    qi_rows = query_idx[row_search]
    utility = (TITLE_MATCH * title_cov[qi_rows, prod] + DESCRIPTION_MATCH * desc_cov[qi_rows, prod]
               + CATEGORY_PREFERENCE * pref_term + POPULARITY * pop_term - PRICE * sens * price_term
               + FAVOURITE_BRAND * (known & (brand_index[prod] == favourite_brand[np.maximum(user, 0), cat]))
               + NOISE_SCALE * rng.logistic(size=len(prod)))
    examination = 1.0 / (1.0 + EXAMINATION_DECAY * (position - 1))
    clicked = rng.random(len(prod)) < examination / (1.0 + np.exp(-(utility - CLICK_BIAS)))
    bought = clicked & (rng.random(len(prod)) < PURCHASE_SHARE / (1.0 + np.exp(-(utility - PURCHASE_BIAS))))
    return pd.DataFrame({
        "search_event_id": searches["event_id"].to_numpy()[row_search],
        "product_id": products["product_id"].to_numpy()[prod],
        "position": position.astype(np.int64),
        "is_clicked": clicked,
        "is_purchased": bought,
        "searched_at": pd.to_datetime(searches["event_at"]).to_numpy()[row_search],
    })
