"""Keyed hashing of personal data before anything is landed or loaded.

A keyed HMAC (not a plain hash) so that e-mails or card numbers cannot be
recovered by hashing a dictionary of candidates; the key comes from the
environment / an Airflow connection via settings, never from code.
"""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd

from tasks.ingest.schema import PII_SOURCE_COLUMNS
from tasks.settings import get_settings


def keyed_hash(value: str, key: bytes) -> str:
    normalised = value.strip().lower().encode()
    return hmac.new(key, normalised, hashlib.sha256).hexdigest()[:32]


def hash_series(series: pd.Series, key: bytes | None = None) -> pd.Series:
    key = key or get_settings().pii_key
    return series.map(lambda v: None if pd.isna(v) or str(v) == "" else keyed_hash(str(v), key))


def hash_pii_columns(frame: pd.DataFrame, key: bytes | None = None) -> pd.DataFrame:
    """Replace clear PII columns (email, name, ip, card_number) by their ``*_hash`` column.

    The clear column is dropped; an existing ``*_hash`` value wins only when the
    clear value is missing.
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
    return out
