"""Content fingerprints that make a model version name its code, config and data.

Why: a version used to hash only the config and the data window, so a re-load that changed a
partition's rows (a late file, a fixed mapping) or a change to the training code produced a
model with the *same* version as the old one, and the registry row and artefact folder of the
old model were silently replaced. ``make_version`` now also hashes:

- ``data_fingerprint``: row count, column names/dtypes and the rows of every training input
  (floats to ``FLOAT_SIGNIFICANT_DIGITS`` significant digits: summation-order noise is not content).
  Rows are hashed with pandas' own ``hash_pandas_object`` (vectorised, stable across processes
  and runs) and the row hashes sorted before the digest, so the physical order a warehouse
  returns rows in does not matter (PostgreSQL guarantees none without ORDER BY).
- ``code_fingerprint``: the source of the ``tasks/train`` package (every ``.py`` under it, by
  relative path), so a fix to a recipe or a loss gives the next training a new version even on
  the same data. Computed once per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

TRAIN_PACKAGE = Path(__file__).resolve().parent


#: Significant digits of a float that count as content. Why not all 17: a sum over rows is the
#: same number up to its last bits whatever order the rows were added in, and the order a
#: warehouse returns rows in is not fixed, so the campaign uplift's ``spend_30d`` (a weighted
#: bincount) read 150.92000000000002 in one ``make run`` and 150.92 in the next, identical one,
#: and the two runs registered different versions of the same model on the same data.
FLOAT_SIGNIFICANT_DIGITS = 12


def _round_significant(values: pd.Series) -> pd.Series:
    """Floats rounded to ``FLOAT_SIGNIFICANT_DIGITS`` significant digits (NaN/inf/0 unchanged)."""
    x = values.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(x) & (x != 0)
    exponent = np.zeros_like(x)
    exponent[finite] = np.floor(np.log10(np.abs(x[finite])))
    decimals = FLOAT_SIGNIFICANT_DIGITS - 1 - exponent
    out = x.copy()
    out[finite] = np.round(x[finite] * 10.0 ** decimals[finite]) / 10.0 ** decimals[finite]
    return pd.Series(out, index=values.index, name=values.name)


def _frame_digest(digest: hashlib._Hash, frame: pd.DataFrame) -> None:
    columns = sorted(map(str, frame.columns))
    digest.update(f"rows={len(frame)}\x1f".encode())
    digest.update("\x1f".join(f"{c}:{frame[c].dtype}" for c in columns).encode())
    if frame.empty:
        return
    content = frame[columns].copy()
    content.columns = columns
    for c in columns:
        if pd.api.types.is_float_dtype(content[c].dtype):
            content[c] = _round_significant(content[c])
    row_hashes = pd.util.hash_pandas_object(content, index=False).to_numpy(dtype=np.uint64)
    digest.update(np.sort(row_hashes).tobytes())


TrainingInput = pd.DataFrame | pd.Series | Mapping[str, object] | None


def _as_frame(name: str, value: pd.DataFrame | pd.Series | Mapping[str, object]) -> pd.DataFrame:
    """A frame for hashing: a Series or a lookup mapping (e.g. product -> category) as key/value rows."""
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, pd.Series):
        return value.rename("value").rename_axis("key").reset_index()
    if isinstance(value, Mapping):
        return pd.DataFrame({"key": list(map(str, value)), "value": list(value.values())})
    raise TypeError(f"training input {name!r} is a {type(value).__name__}, not a DataFrame, Series or mapping")


def data_fingerprint(inputs: Mapping[str, TrainingInput]) -> str:
    """A SHA-256 (hex) over the named training inputs; ``None`` means "this input is absent".

    Independent of row order and column order; changes when any value (a float in its first
    ``FLOAT_SIGNIFICANT_DIGITS`` significant digits), the row count, a column name or a dtype changes.
    """
    if not inputs:
        raise ValueError("data_fingerprint needs at least one named training input")
    digest = hashlib.sha256()
    for name in sorted(inputs):
        frame = inputs[name]
        digest.update(f"\x1e{name}\x1f".encode())
        if frame is None:
            digest.update(b"absent")
        else:
            _frame_digest(digest, _as_frame(name, frame))
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A SHA-256 (hex) over the source files of the ``tasks/train`` package."""
    digest = hashlib.sha256()
    for path in sorted(TRAIN_PACKAGE.rglob("*.py")):
        digest.update(f"\x1e{path.relative_to(TRAIN_PACKAGE).as_posix()}\x1f".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
