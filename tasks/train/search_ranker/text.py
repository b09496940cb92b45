"""Lexical side of search: tokens, BM25 over title + description (``rank_bm25``), query coverage.

BM25 comes from the maintained ``rank_bm25`` library (BM25Okapi, its default k1/b), not our
own formula: it is both the baseline the learned ranker must beat and one of its inputs.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np
import pandas as pd
from rank_bm25 import BM25Okapi

TOKEN_RE = re.compile(r"[a-z0-9]+")


def tokenize(text: object) -> list[str]:
    """Lower-case alphanumeric tokens ('Noise-cancelling' -> 'noise', 'cancelling')."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    return TOKEN_RE.findall(str(text).lower())


class LexicalIndex:
    """The catalogue as BM25 documents (title + description), plus per-field token sets.

    ``products`` needs product_id, title, description and brand (missing ones are empty). Scores
    for a query are cached: the same few hundred queries are asked for thousands of times.
    """

    def __init__(self, products: pd.DataFrame) -> None:
        frame = products.reset_index(drop=True)
        self.product_ids = frame["product_id"].astype(str).to_numpy()
        self.position = {pid: i for i, pid in enumerate(self.product_ids)}
        col = {c: (frame[c] if c in frame else pd.Series([None] * len(frame))) for c in
               ("title", "description", "brand")}
        self.title = [set(tokenize(t)) for t in col["title"]]
        self.description = [set(tokenize(d)) for d in col["description"]]
        self.brand = [set(tokenize(b)) for b in col["brand"]]
        self._docs = [tokenize(t) + tokenize(d) for t, d in zip(col["title"], col["description"], strict=True)]
        self._cache: dict[str, dict[str, np.ndarray]] = {}

    @cached_property
    def _bm25(self) -> BM25Okapi | None:
        # rank_bm25 divides by the corpus size and mean document length: no documents, no index.
        return BM25Okapi(self._docs) if any(self._docs) else None

    def lookup(self, query: str) -> dict[str, np.ndarray]:
        """Per catalogue product: bm25, title/description coverage (share of query tokens found),
        brand_in_query (the product's brand is named in the query)."""
        if query not in self._cache:
            words = tokenize(query)
            unique = set(words)
            n = len(self.product_ids)
            bm25 = (np.asarray(self._bm25.get_scores(words), dtype=float)
                    if self._bm25 is not None and words else np.zeros(n))
            denom = max(len(unique), 1)
            self._cache[query] = {
                "bm25": np.maximum(bm25, 0.0),  # Okapi's IDF can dip below 0 for very common words
                "title_coverage": np.array([len(unique & t) / denom for t in self.title]),
                "description_coverage": np.array([len(unique & d) / denom for d in self.description]),
                "brand_in_query": np.array([float(bool(b) and b <= unique) for b in self.brand]),
            }
        return self._cache[query]

    def candidates(self, query: str, categories: np.ndarray, limit: int) -> np.ndarray:
        """Catalogue positions a search engine would retrieve for ``query``: every BM25 match by
        score, then the other products of the best match's category ("related"), up to ``limit``."""
        found = self.lookup(query)["bm25"]
        matched = np.flatnonzero(found > 0)
        matched = matched[np.lexsort((matched, -found[matched]))]
        if len(matched) >= limit or not len(matched):
            return matched[:limit]
        related = np.flatnonzero((categories == categories[matched[0]]) & (found <= 0))
        return np.concatenate([matched, related])[:limit]
