"""Keyed hashing of personal data before anything is landed or loaded.

A keyed HMAC (not a plain hash) so that e-mails or card numbers cannot be
recovered by hashing a dictionary of candidates; the key comes from the
environment / an Airflow connection via settings, never from code.

Personal data the canonical schema has no ``*_hash`` column for (postal
addresses, phone numbers, first/last names, dates of birth...) is dropped
here, not hashed: nothing downstream uses it, and the landing copy and the
quarantine payload are written from this frame, so a source that forgot to
drop such a column (one not built on ``sources.base.conform``) must not leak
it there.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

import pandas as pd

from tasks.ingest.schema import PII_SOURCE_COLUMNS
from tasks.settings import get_settings

log = logging.getLogger(__name__)

# Column names that hold clear personal data without a canonical ``*_hash`` column.
# Matched on the lower-cased name with every non-alphanumeric run turned into "_".
_UNHASHED_PII_NAME = re.compile(
    r"^(?:"
    r"(?:first|last|given|family|middle|full|sur|maiden|customer|billing|shipping|contact|"
    r"account|card_?holder|user)_?name|surname|forename|"
    r"(?:street|postal|home|billing|shipping|mailing|delivery|email|e_mail|ip|ipv4|ipv6)?_?"
    r"address(?:_?line)?_?\d?|street(?:_?\d)?|addr(?:ess)?_?\d?|city_?address|house_?number|"
    r"post_?code|postal_?code|zip(?:_?code)?|"
    r"(?:phone|mobile|telephone|tel|fax)(?:_?(?:number|no))?|"
    r"date_?of_?birth|dob|birth_?date|birthday|ssn|national_?id|passport(?:_?number)?|iban|"
    r"(?:card_?)?(?:cvv|cvc|expiry|expiry_?date|pan)|card_?no|credit_?card(?:_?number)?|"
    r"e_mail|email_?address|mail|ip_?addr|client_?ip|remote_?addr|ipv4|ipv6"
    r")$"
)


def is_unhashed_pii_column(name: str) -> bool:
    """True for a column name that looks like clear personal data with no ``*_hash`` target."""
    normalised = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
    return normalised not in PII_SOURCE_COLUMNS and bool(_UNHASHED_PII_NAME.match(normalised))


def keyed_hash(value: str, key: bytes) -> str:
    normalised = value.strip().lower().encode()
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()[:32]


def hash_series(series: pd.Series, key: bytes | None = None) -> pd.Series:
    key = key or get_settings().pii_key
    return series.map(lambda v: None if pd.isna(v) or str(v) == "" else keyed_hash(str(v), key))


def hash_pii_columns(frame: pd.DataFrame, key: bytes | None = None) -> pd.DataFrame:
    """Replace clear PII columns (email, name, ip, card_number) by their ``*_hash`` column.

    The clear column is dropped; an existing ``*_hash`` value wins only when the
    clear value is missing. Other personal-data columns (address, phone, first
    name, ...; see ``is_unhashed_pii_column``) are dropped with a warning.
    """
    out = frame.copy()
    for clear, hashed in PII_SOURCE_COLUMNS.items():
        if clear not in out.columns:
            continue
        digest = hash_series(out[clear], key)
        if hashed in out.columns:
            out[hashed] = digest.where(digest.notna(), out[hashed])
        else:
            out[hashed] = digest
        out = out.drop(columns=[clear])
    unhashed = [c for c in out.columns if is_unhashed_pii_column(c)]
    if unhashed:
        log.warning("dropping clear personal-data column(s) %s: the canonical schema has no hashed "
                    "form for them, so they are never landed or loaded", unhashed)
        out = out.drop(columns=unhashed)
    return out


# Words that mark a column as personal data when they appear as a word of its name.
_PII_WORDS = frozenset({
    "email", "mail", "phone", "mobile", "telephone", "tel", "fax", "card", "pan", "cvv", "cvc", "iban", "ip",
    "ipv4", "ipv6", "name", "surname", "forename", "address", "addr", "street", "zip", "postcode", "ssn",
    "passport", "dob", "birth", "birthday",
})


def looks_like_pii_name(name: str) -> bool:
    """True when a column name suggests personal data (so it must never become a model feature).

    Stricter than ``is_unhashed_pii_column`` on purpose: a feature name is chosen by the shop,
    and ``card_type`` or ``ip_country`` is refused too (rename it if it truly is not personal
    data); a false refusal costs a rename, a false acceptance leaks data into every model.
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    normalised = re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_")
    words = set(re.findall(r"[a-z]+", normalised))
    return (normalised in PII_SOURCE_COLUMNS or is_unhashed_pii_column(normalised) or bool(words & _PII_WORDS)
            or any(part in normalised for part in ("email", "phone", "address", "passport")))
