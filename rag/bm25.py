"""Sparse BM25 retrieval with bm25s, saved as JSON + NumPy arrays (no pickle)."""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["BM25Index"]

logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25Index:
    """Row `i` of the BM25 corpus is the store chunk `ids[i]`."""

    def __init__(self, retriever: object, ids: list[int]) -> None:
        self._retriever = retriever
        self.ids = np.asarray(ids, dtype=np.int64)
        self._vocab: dict[str, int] = getattr(retriever, "vocab_dict", {}) or {}
        self._idf: dict[str, float] | None = None
        self._doc_tokens: Sequence[list[str]] | None = None

    @classmethod
    def build(cls, ids: list[int], corpus_tokens: Sequence[list[str]]) -> "BM25Index":
        import bm25s

        retriever = bm25s.BM25(k1=1.2, b=0.75)
        if corpus_tokens:
            retriever.index([list(t) or [""] for t in corpus_tokens], show_progress=False)
        index = cls(retriever, ids)
        index._doc_tokens = corpus_tokens
        return index

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if len(self.ids):
            self._retriever.save(str(directory), show_progress=False)  # type: ignore[attr-defined]
        np.save(directory / "ids.npy", self.ids, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        import bm25s

        ids = np.load(directory / "ids.npy", allow_pickle=False).tolist()
        retriever = bm25s.BM25.load(str(directory), show_progress=False) if ids else bm25s.BM25()
        return cls(retriever, ids)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every row for a query; unknown tokens are ignored."""
        known = [t for t in query_tokens if t in self._vocab]
        if not known or not len(self.ids):
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._retriever.get_scores(known), dtype=np.float32)  # type: ignore[attr-defined]

    def idf(self, token_lists: Sequence[list[str]]) -> dict[str, float]:
        """Smoothed inverse document frequency over the stored chunk tokens."""
        if self._idf is None:
            df: Counter[str] = Counter()
            for tokens in token_lists:
                df.update(set(tokens))
            n = max(len(token_lists), 1)
            self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        return self._idf
