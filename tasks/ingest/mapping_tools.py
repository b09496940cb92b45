"""``ecomflow map --infer FILE`` and ``ecomflow check-mapping MAPPING.yml``.

A new user's first hour goes into writing the mapping YAML and then finding out, one DAG
failure at a time, what their data cannot feed. ``infer_mapping`` proposes a mapping from a
file's columns and a sample (a draft to review: names are guesses, stated as such);
``check_mapping`` validates a mapping exactly as the pipeline will (the same parser and
data-file checks) and lists which marts, feature sets and models will run on it and why
the others will be skipped, from the same step -> entity tables the DAGs use
(``tasks.applicability``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from tasks.applicability import FEATURE_INPUTS, MART_INPUTS, MODEL_ALSO_NEEDS, MODEL_INPUTS
from tasks.ingest.pii import looks_like_pii_name
from tasks.ingest.schema import EVENT_TYPES, IGNORED_VALUE_PREFIX, PII_SOURCE_COLUMNS

SAMPLE_ROWS = 2000
_EVENT_WORDS = {"view": ("view", "pv", "detail", "page_view", "impression", "click"),
                "cart": ("cart", "addtocart", "add_to_cart", "atc", "basket", "fav", "favourite", "favorite",
                         "wishlist"),
                "purchase": ("purchase", "buy", "order", "checkout", "transaction", "sale"),
                "search": ("search", "query")}
_ID_ROLES = (("user_id", ("user", "customer", "visitor", "client", "member", "account", "cust")),
             ("product_id", ("item", "product", "sku", "article", "stockcode")),
             ("session_id", ("session", "sess")),
             ("transaction_id", ("txn", "transaction", "trans", "payment")),
             ("order_id", ("order", "invoice", "basket")),
             ("store_id", ("store", "shop", "location", "dept")),
             ("category", ("category", "cat")))


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name)).lower()).strip("_")


#: Name endings that mark an identifier column (``visitorid``, ``item_id``, ``user_uuid``).
_ID_SUFFIXES = ("id", "code", "no", "key")
#: Tokens that make a column an identifier, never a model feature (``category_code`` stays one).
_IDENTIFIER_TOKENS = {"id", "uuid", "key"}
_TIME_NAME = r"time|date|ts|_at$|day|week"
_BOOLEAN_TEXT = ("true", "false", "0", "1")


def _tokens(norm: str) -> set[str]:
    """A normalised column name's words, a glued id suffix split off (``visitorid`` -> visitor, id).

    Why: public clickstreams name their keys ``visitorid``, ``itemid``, ``transactionid`` (no
    separator), and those must be found as ids, not proposed as numeric model features."""
    out: set[str] = {norm.replace("_", "")}  # ``StockCode`` -> stock_code -> also stockcode
    for token in norm.split("_"):
        out.add(token)
        for suffix in _ID_SUFFIXES:
            if token.endswith(suffix) and len(token) > len(suffix) + 1:
                out.update((token[: -len(suffix)], suffix))
    return out


def _epoch_format(values: pd.Series) -> str | None:
    """``epoch_s`` or ``epoch_ms`` for integer Unix times of the years 1973-2286, else None.

    Magnitude tells the unit: seconds since 1970 are ~1e9 for today, milliseconds ~1e12. Small
    numbers (a data set's "seconds since its first row") are left to the offset rule."""
    sample = pd.to_numeric(values.dropna().head(500), errors="coerce")
    if sample.empty or sample.isna().mean() > 0.05 or (sample.dropna() % 1 != 0).any():
        return None
    median = float(sample.median())
    if 1e8 <= median < 1e10:
        return "epoch_s"
    if 1e11 <= median < 1e13:
        return "epoch_ms"
    return None


def _role_match(canonical: str, word: str, norm: str) -> bool:
    tokens = _tokens(norm)
    if word not in tokens:
        return False
    # A session or category column is one whatever its suffix (``user_session``, ``cat``).
    return canonical in ("category", "session_id") or bool(tokens & set(_ID_SUFFIXES)) or norm == word \
        or norm.replace("_", "") == word


def _id_roles(columns: list[str], lower: dict[str, str]) -> dict[str, str]:
    """canonical id -> source column: a column named as the canonical (``store_id``) first, then
    the role's words in their order of preference, so ``dept_id`` beside ``store_id`` (a
    department beside a store) does not become the store."""
    roles: dict[str, str] = {}
    for canonical, words in _ID_ROLES:
        free = [c for c in columns if c not in roles.values() and c not in PII_SOURCE_COLUMNS]
        exact = [c for c in free if lower[c] == canonical]
        match = exact or [c for word in words for c in free if _role_match(canonical, word, lower[c])]
        if match:
            roles[canonical] = match[0]
    return roles


def read_sample(path: Path) -> tuple[pd.DataFrame, dict]:
    """The first rows as text (CSV, delimiter sniffed) or native values (Parquet), and CSV options."""
    if ".parquet" in [s.lower() for s in path.suffixes]:
        return pq.ParquetFile(path).read_row_group(0).to_pandas().head(SAMPLE_ROWS), {}
    head = path.read_bytes()[:65536].decode("utf-8", errors="replace") if path.suffix != ".gz" else None
    delimiter = ","
    if head:
        try:
            delimiter = csv.Sniffer().sniff(head.split("\n", 1)[0], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    frame = pd.read_csv(path, sep=delimiter, dtype=str, nrows=SAMPLE_ROWS, keep_default_na=False)
    options: dict[str, object] = {"delimiter": delimiter} if delimiter != "," else {}
    if _header_is_data(frame):
        frame = pd.read_csv(path, sep=delimiter, dtype=str, nrows=SAMPLE_ROWS, keep_default_na=False, header=None,
                            names=[f"column_{i + 1}" for i in range(len(frame.columns))])
        options["header"] = False
    return frame.replace({"": None}), options


def _header_is_data(frame: pd.DataFrame) -> bool:
    """A first line of values, not names (a public clickstream ships ``1,2268318,2520377,pv,
    1511544070`` with no header): half or more of its cells look like the values below them - a
    number over a numeric column, or a text that is one of the column's values. A funnel table
    named ``date,view,cart,purchase`` keeps its header: its columns hold counts, not words."""
    header = [str(c) for c in frame.columns]
    like = 0
    for cell, col in zip(header, frame.columns, strict=True):
        values = frame[col].replace({"": None}).dropna().astype(str).str.strip()
        if pd.notna(pd.to_numeric(cell, errors="coerce")):
            like += bool(len(values)) and pd.to_numeric(values, errors="coerce").notna().mean() >= 0.95
        else:
            like += cell.strip().lower() in set(values.str.lower().head(SAMPLE_ROWS))
    return len(header) > 1 and 2 * like >= len(header)


def _epoch_by_content(values: pd.Series) -> str | None:
    """``epoch_s``/``epoch_ms`` for a column without a name to go by: integer Unix times of
    2000-2039 that differ from row to row (ids are neither in that range nor mostly unique)."""
    sample = pd.to_numeric(values.dropna().head(500), errors="coerce")
    if sample.empty or sample.isna().any() or (sample % 1 != 0).any() or sample.nunique() < 0.5 * len(sample):
        return None
    low, high = float(sample.min()), float(sample.max())
    if 9.5e8 <= low and high < 2.2e9:
        return "epoch_s"
    if 9.5e11 <= low and high < 2.2e12:
        return "epoch_ms"
    return None


def _name_headerless(sample: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Names for a file without a header, from its values: the event column (event words), the
    time (Unix times by magnitude) and, by position, the id columns in the order public
    clickstreams use (user, item, category). Every guess is stated in a note."""
    names: dict[str, str] = {}
    for col in sample.columns:
        values = {str(v).strip().lower() for v in sample[col].dropna().unique()[:50]}
        words = {w for ws in _EVENT_WORDS.values() for w in ws}
        if "event" not in names.values() and 1 < len(values) <= 20 and len(values & words) >= max(2, len(values) // 2):
            names[col] = "event"
        elif "timestamp" not in names.values() and _epoch_by_content(sample[col]):
            names[col] = "timestamp"
    ids = [c for c in sample.columns if c not in names and _is_numeric(sample[c])
           and (pd.to_numeric(sample[c].dropna(), errors="coerce") % 1 == 0).all()]
    for col, name in zip(ids, ("user_id", "item_id", "category_id"), strict=False):
        names[col] = name
    notes.append(f"the file has no header: columns named from their values {names} (ids by position: "
                 "user, item, category; check!)")
    return sample.rename(columns=names)


def _time_format(values: pd.Series) -> str | None:
    """A format the sample parses with (>= 95 % of non-empty values), or None."""
    sample = values.dropna().astype(str).head(500)
    if sample.empty:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S %Z", "%Y-%m-%d", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
                "%d/%m/%Y", "%m/%d/%Y", "iso8601"):
        parsed = pd.to_datetime(sample, format="ISO8601" if fmt == "iso8601" else fmt, errors="coerce")
        if parsed.notna().mean() >= 0.95:
            return fmt
    return None


def _is_numeric(values: pd.Series) -> bool:
    sample = values.dropna().head(500)
    return not sample.empty and pd.to_numeric(sample, errors="coerce").notna().mean() >= 0.95


def _wide_spec(columns: list[str]) -> dict | None:
    numbered = [c for c in columns if re.fullmatch(r"d_\d+", c)]
    if len(numbered) >= 7:
        return {"columns": r"^d_(\d+)$", "value": "units", "start_date": "YYYY-MM-DD  # the date of d_1 (check!)"}
    dated = [c for c in columns if pd.notna(pd.to_datetime(c, format="%Y-%m-%d", errors="coerce"))]
    if len(dated) >= 7:
        return {"columns": r"^\d{4}-\d\d-\d\d$", "value": "units", "date_format": "%Y-%m-%d"}
    return None


def infer_mapping(path: str | Path) -> str:
    """A proposed mapping YAML for one data file (a draft: every guess is marked for review)."""
    path = Path(path).expanduser().resolve()
    sample, csv_options = read_sample(path)
    notes: list[str] = []
    if csv_options.get("header") is False:
        sample = _name_headerless(sample, notes)
        csv_options["names"] = [str(c) for c in sample.columns]
    columns = [str(c) for c in sample.columns]
    lower = {c: _norm(c) for c in columns}
    spec_extra: dict[str, object] = {}
    wide = _wide_spec(columns)
    roles = _id_roles(columns, lower)
    event_col, event_map = None, {}
    for col in columns:
        values = {str(v).strip().lower() for v in sample[col].dropna().unique()[:50]}
        hits = {t: sorted(v for v in values if v in words) for t, words in _EVENT_WORDS.items()}
        if 1 < len(values) <= 20 and sum(map(len, hits.values())) >= max(2, len(values) // 2):
            event_col, event_map = col, {t: v for t, v in hits.items() if v}
            break
    time_col, time_fmt = None, None
    for col in sorted(columns, key=lambda c: not re.search(_TIME_NAME, lower[c])):
        if wide or col in roles.values():
            break
        time_named = re.search(_TIME_NAME, lower[col]) is not None
        fmt = (_epoch_format(sample[col]) if time_named else None) or _time_format(sample[col])
        if fmt:
            time_col, time_fmt = col, fmt
            break
    if time_col is None and not wide:
        # A count from the data set's start: ``Time`` (seconds), ``TransactionDT`` (seconds from a
        # reference), a simulation's ``step`` (hours in a well-known payments simulation).
        offset = next((c for c in columns if (lower[c] in ("time", "step", "seconds", "offset", "hour", "hours")
                                              or _tokens(lower[c]) & {"dt", "time", "step"})
                       and _is_numeric(sample[c]) and c not in roles.values()), None)
        if offset:
            unit = "hours" if lower[offset] in ("step", "hour", "hours") else "seconds"
            time_col, time_fmt = offset, "epoch_h" if unit == "hours" else "epoch_s"
            notes.append(f"{offset!r} looks like {unit} since the data set's start: set timestamp.origin "
                         "(and check the unit: epoch_s, epoch_h, epoch_d)")
    named = {lower[c]: c for c in columns}
    amount = next((named[n] for n in ("amount", "transaction_amount", "amt", "value") if n in named), None) \
        or next((c for c in columns if _tokens(lower[c]) & {"amount", "amt"} and _is_numeric(sample[c])), None)
    price = next((named[n] for n in ("price", "unit_price", "sell_price", "cost") if n in named), None)
    quantity = next((named[n] for n in ("quantity", "qty", "units", "sales", "weekly_sales", "units_sold")
                     if n in named), None)
    label = next((named[n] for n in ("class", "is_fraud", "fraud", "label", "isfraud") if n in named), None)

    event_names = [c for c in columns if re.search(r"event_name|holiday", lower[c]) and not _is_numeric(sample[c])
                   and not sample[c].dropna().astype(str).str.strip().str.lower().isin(_BOOLEAN_TEXT).all()]
    if wide:
        entity = "daily_sales"
    elif event_names and time_col and "%H" not in str(time_fmt) and not (roles.keys() & {"user_id", "product_id"}
                                                                         or quantity or amount or label):
        entity = "calendar"  # one row per date (and event): holidays, sport, promotions
    elif event_col:
        entity = "events"
    elif label or (amount and not quantity):
        entity = "transactions"
    elif quantity and roles.get("order_id"):
        entity = "order_lines"
    elif quantity:
        entity = "daily_sales"
    elif (time_col is None or re.search(r"signup|regist|created|joined|since|added", lower[time_col])) \
            and ("user_id" in roles) != ("product_id" in roles):
        # A profile table (id + attributes, at most a creation time): users or products.
        entity = "users" if "user_id" in roles else "products"
        if time_col is None:
            notes.append(f"no time column: each {entity[:-1]} is dated from when its id is first seen in the "
                         "source's other files (map them in the same mapping)")
    else:
        entity = "events"
        if not (time_col and roles.keys() & {"product_id", "session_id"}):  # else: views of items
            notes.append("could not tell the entity: guessed events")
    mapped: dict[str, object] = {}
    if entity == "calendar":
        mapped["event_name"] = event_names[0]
        kinds = [c for c in columns if re.search(r"event_type|holiday_type|type", lower[c]) and c not in event_names]
        if kinds:
            mapped["event_type"] = kinds[0]
        if "store_id" in roles:
            mapped["store_id"] = roles["store_id"]
        if event_names[1:]:
            notes.append(f"{event_names[1:]} name events too: map this file again (another files: entry) with "
                         "each of them as event_name")
    elif entity == "users":
        mapped["user_id"] = roles["user_id"]
        if "country" in named:
            mapped["country"] = named["country"]
    elif entity == "products":
        mapped["product_id"] = roles["product_id"]
        for canonical, names in (("title", ("title", "name", "product_name", "description")),
                                 ("category", ("category", "category_name", "category_code")),
                                 ("brand", ("brand",)), ("price", ("price", "list_price", "unit_price"))):
            found = roles.get(canonical) if canonical == "category" else None
            found = found or next((named[n] for n in names if n in named and named[n] not in mapped.values()), None)
            if found:
                mapped[canonical] = found
    elif entity == "events":
        mapped.update({"event_id": {"row_number": True, "prefix": "e"}})
        for key in ("user_id", "product_id", "session_id", "category"):
            if key in roles:
                mapped[key] = roles[key]
        if "user_id" not in roles and "session_id" in roles:
            # Anonymous shoppers: each session is its own user, so the per-user models (the
            # recommender's histories, user features) learn from sessions instead of skipping.
            mapped["user_id"] = {"template": f"s-{{{roles['session_id']}}}"}
            notes.append(f"no user column: each session is its own anonymous user (user_id from "
                         f"{roles['session_id']!r}); map a user column instead if the file has one")
        if event_col:
            mapped["event_type"] = event_col
        else:
            mapped["event_type"] = {"constant": "view"}
            notes.append("no event-type column found: every row is a 'view'")
        if price:
            mapped["price"] = price
    elif entity == "transactions":
        mapped["transaction_id"] = (roles.get("transaction_id") or roles.get("order_id")
                                    or {"row_number": True, "prefix": "t"})
        mapped["user_id"] = roles.get("user_id") or {"constant": "unknown"}
        mapped["amount"] = amount or "AMOUNT_COLUMN"
        if label:
            mapped["is_fraud"] = label
    elif entity == "order_lines":
        mapped.update({"order_id": roles["order_id"], "line_number": {"row_number": True,
                       "within": [roles["order_id"]]}, "product_id": roles.get("product_id", "PRODUCT_COLUMN"),
                       "quantity": quantity, "unit_price": price or "PRICE_COLUMN"})
        if "user_id" in roles:
            mapped["user_id"] = roles["user_id"]
    else:
        product = roles.get("product_id")
        if product is None:
            product = next((c for c in columns if c not in roles.values()
                            and _tokens(lower[c]) & {"dept", "department", "family", "category", "cat"}), None)
            if product:
                notes.append(f"no item column: the series are per {product!r} (check!)")
        mapped.update({"product_id": product or "PRODUCT_COLUMN",
                       "store_id": roles.get("store_id") or {"constant": "all"},
                       "units": "units" if wide else quantity})
        promo = next((c for c in columns if re.search(r"promo|holiday", lower[c])
                      and sample[c].dropna().astype(str).str.strip().str.lower().isin(_BOOLEAN_TEXT).all()), None)
        if promo:
            mapped["is_promo"] = promo
            if not sample[promo].dropna().astype(str).str.strip().isin(["0", "1"]).all():
                spec_extra["boolean_map"] = {"TRUE": True, "FALSE": False}
        if price:
            mapped["price"] = price
    used = {v for v in mapped.values() if isinstance(v, str)} | {time_col, event_col}
    features = {}
    if entity in ("events", "transactions", "users", "products"):
        for col in columns:
            if (col in used or col == label or looks_like_pii_name(col) or col in PII_SOURCE_COLUMNS
                    or _tokens(lower[col]) & _IDENTIFIER_TOKENS):
                continue  # an identifier (``transactionid``) carries no signal a model can generalise
            if _is_numeric(sample[col]):
                features[col] = "numeric"
            elif sample[col].nunique() <= 50:
                features[col] = "categorical"
    spec: dict[str, object] = {"path": str(path), "entity": entity}
    if csv_options:
        spec["csv"] = csv_options
    if wide:
        spec["wide"] = wide
    elif entity in ("users", "products") and not time_col:
        pass  # no timestamp: dated when first seen (docs/mapping.md)
    elif time_col:
        spec["timestamp"] = {"column": time_col, "format": time_fmt}
        if time_fmt in ("epoch_s", "epoch_h") and notes and "origin" in notes[-1]:
            spec["timestamp"]["origin"] = "YYYY-MM-DD"
    else:
        spec["timestamp"] = {"column": "TIME_COLUMN", "format": "iso8601"}
        notes.append("no time column found: set timestamp.column and format")
    spec["columns"] = mapped
    spec.update(spec_extra)
    if event_map:
        spec["event_type_map"] = event_map
        unknown = sorted({str(v).strip() for v in sample[event_col].dropna().unique()}
                         - {v for vs in event_map.values() for v in vs} - set(EVENT_TYPES), key=str.lower)
        if unknown:
            # No canonical type covers them (``remove_from_cart``): proposed as ignored, so they go
            # to audit.quarantine with that reason (nothing lost) without failing the load, as an
            # unmapped value over the quarantine limit would - in an hour of few rows, at once.
            event_map["ignore"] = unknown
            notes.append(f"event values no canonical type covers, proposed as ignored (kept in audit.quarantine, "
                         f"not loaded): {unknown[:10]}; map them to a type instead if they matter")
    if features:
        spec["features"] = features
    ids = [k for k in ("user_id", "product_id", "session_id") if k in mapped and isinstance(mapped[k], str)]
    if ids:
        spec["id_columns"] = ids
    doc = {"source_name": re.sub(r"[^A-Za-z0-9_.-]+", "_", path.name.split(".")[0]) or "my_shop", "files": [spec]}
    header = [f"# Proposed by `ecomflow map --infer {path.name}` from its first {len(sample)} rows: a draft.",
              "# Review every guess, then check it with `ecomflow check-mapping <this file>`."]
    header += [f"# NOTE: {n}" for n in notes]
    return "\n".join(header) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def check_mapping(mapping_file: str | Path) -> str:
    """Validate a mapping as the pipeline will, and say what will and won't run on it (raises MappingError)."""
    from tasks.ingest.sources.mapping import MappingSource
    from tasks.ingest.sources.mapping_config import FIRST_SEEN

    source = MappingSource(mapping_file)
    mapping = source.mapping
    provided = set(source.entities())
    derived = set(source.derived_entities())
    lines = [f"{mapping.mapping_file}: valid mapping for source {mapping.source_name!r}", "",
             "entities:"]
    for entity in sorted(provided):
        files = [f"{f.where} {f.path.name}" for f in mapping.files if f.entity == entity]
        how = ", ".join(files) if files else "derived from the other entities (first seen)"
        if any(f.entity == entity and f.timestamp.format == FIRST_SEEN for f in mapping.files):
            how += " (no time column: each row dated when its id is first seen)"
        extra = mapping.extra_features(entity)
        lines.append(f"  {entity:<13} {how}" + (f"; extra features {extra}" if extra else ""))
    for f in mapping.files:
        ignored = sorted(v for v, t in f.event_type_map.items() if t.startswith(IGNORED_VALUE_PREFIX))
        if ignored:
            lines.append(f"  {f.entity}.event_type: {f.where} ignores {ignored} (quarantined with that reason, "
                         "not counted against the quarantine limit)")
    if mapping.derive.sessions:
        lines.append(f"  events.session_id: derived where missing ({mapping.derive.inactivity_minutes} min "
                     "inactivity per user)")
    limit = mapping.quarantine_max_share
    lines.append(f"  quarantine limit: {limit:.1%} (this mapping)" if limit is not None
                 else "  quarantine limit: ECOMFLOW_QUARANTINE_MAX_SHARE (default 1%)")
    for title, table in (("marts", MART_INPUTS), ("feature sets", FEATURE_INPUTS), ("models", MODEL_INPUTS)):
        lines += ["", f"{title}:"]
        for step, needs in table.items():
            have = [e for e in needs if e in provided]
            also = MODEL_ALSO_NEEDS.get(step, ()) if table is MODEL_INPUTS else ()
            lacking = [e for e in also if e not in provided]
            if have and lacking:
                lines.append(f"  will skip  {step:<22} needs {' and '.join(lacking)} too, which this mapping "
                             "does not provide")
            elif have:
                lines.append(f"  will run   {step:<22} from {', '.join(have)}"
                             + (" (derived)" if set(have) <= derived else ""))
            else:
                extra = "".join(f" and {e}" for e in lacking)
                lines.append(f"  will skip  {step:<22} needs {' or '.join(needs)}{extra}, which this mapping "
                             "does not provide")
    lines += ["", "(a step that will run still skips at run time when its entities load no rows before the "
              "as-of instant)"]
    return "\n".join(lines)
