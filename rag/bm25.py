"""Sparse BM25 retrieval: built and saved by bm25s, read back as plain NumPy arrays (no pickle).

bm25s precomputes every (document, token) BM25 score into a sparse CSC matrix, one
column per token, so a query's scores are the sum of its tokens' columns. Reading the
saved arrays directly keeps `import bm25s` (and the SciPy it pulls in, over a second on
a small machine) off the cold query path; a test checks the scores against bm25s.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BM25Index"]

@dataclass(frozen=True)
class _ScoreMatrix:
    """bm25s' score matrix in CSC form: column `t` holds token `t`'s score in each document."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    num_docs: int

    @classmethod
    def from_retriever(cls, retriever: object) -> "_ScoreMatrix":
        scores = retriever.scores  # type: ignore[attr-defined]
        return cls(scores["data"], scores["indices"], scores["indptr"], int(scores["num_docs"]))

    @classmethod
    def load(cls, directory: Path) -> "_ScoreMatrix":
        params = json.loads((directory / "params.index.json").read_text(encoding="utf-8"))
        data, indices, indptr = (
            np.load(directory / f"{name}.csc.index.npy", allow_pickle=False) for name in ("data", "indices", "indptr")
        )
        return cls(data, indices, indptr, int(params["num_docs"]))

    def scores(self, token_ids: list[int]) -> np.ndarray:
        spans = [(int(self.indptr[t]), int(self.indptr[t + 1])) for t in token_ids]
        rows = np.concatenate([self.indices[a:b] for a, b in spans])
        values = np.concatenate([self.data[a:b] for a, b in spans])
        return np.bincount(rows, weights=values, minlength=self.num_docs).astype(np.float32)

    def document_frequencies(self) -> np.ndarray:
        # Every stored BM25 score is positive, so a column's length is its token's document frequency.
        return np.diff(self.indptr)


class BM25Index:
    """Row `i` of the BM25 corpus is the store chunk `ids[i]`."""

    def __init__(
        self, ids: list[int], vocab: dict[str, int], matrix: _ScoreMatrix | None, retriever: object | None = None
    ) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        # bm25s adds a placeholder "" token without a column; only tokens with scores are kept.
        columns = len(matrix.indptr) - 1 if matrix is not None else 0
        self._vocab = {token: i for token, i in vocab.items() if i < columns}
        self._matrix = matrix
        self._retriever = retriever
        self._idf: dict[str, float] | None = None

    @classmethod
    def build(cls, ids: list[int], corpus_tokens: Sequence[list[str]]) -> "BM25Index":
        if not corpus_tokens:
            return cls(ids, {}, None)
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # after the import, which sets its own level
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        retriever.index([list(t) or [""] for t in corpus_tokens], show_progress=False)
        return cls(ids, dict(retriever.vocab_dict), _ScoreMatrix.from_retriever(retriever), retriever)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self._retriever is not None:
            self._retriever.save(str(directory), show_progress=False)  # type: ignore[attr-defined]
        np.save(directory / "ids.npy", self.ids, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        ids = np.load(directory / "ids.npy", allow_pickle=False).tolist()
        if not ids:
            return cls(ids, {}, None)
        vocab = json.loads((directory / "vocab.index.json").read_text(encoding="utf-8"))
        matrix = _ScoreMatrix.load(directory)
        if matrix.num_docs != len(ids) or not len(vocab) <= len(matrix.indptr) <= len(vocab) + 1:
            raise ValueError(f"BM25 arrays in {directory} do not match its {len(ids)} rows and {len(vocab)} tokens")
        return cls(ids, vocab, matrix)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every row for a query; unknown tokens are ignored."""
        known = [self._vocab[t] for t in query_tokens if t in self._vocab]
        if not known or self._matrix is None:
            return np.zeros(len(self.ids), dtype=np.float32)
        return self._matrix.scores(known)

    def idf(self) -> dict[str, float]:
        """Smoothed inverse document frequency of every indexed token (the BM25 formula's own)."""
        if self._idf is None:
            if self._matrix is None:
                self._idf = {}
            else:
                n = max(self._matrix.num_docs, 1)
                df = self._matrix.document_frequencies()
                idf = np.log1p((n - df + 0.5) / (df + 0.5)).tolist()
                self._idf = {token: idf[i] for token, i in self._vocab.items()}
        return self._idf
