"""A FAISS vector store with a SQLite docstore.

Exact `IndexFlatIP` over normalised vectors (scores are cosines), wrapped in
`IndexIDMap2` so changed files can be removed and re-added. Nothing is pickled:
vectors go to a `.faiss` file, chunk records to SQLite. `rag.vectorstore` exposes it
as a langchain-core `VectorStore`; the answer path uses it directly, because importing
langchain's vector-store machinery costs seconds on a cold start.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import Chunk
from .errors import IndexCorruptError

__all__ = ["FaissStore", "StoredChunk"]

_COLUMNS = ("id", "chunk_id", "doc_id", "path", "lang", "title", "heading", "text", "position", "tags", "tokens")


class StoredChunk(Chunk):
    """A chunk as held by the store: its FAISS id and its BM25 tokens."""

    def __init__(self, faiss_id: int, tokens: list[str], **fields: Any) -> None:
        super().__init__(**fields)
        self.faiss_id = faiss_id
        self.tokens = tokens

    def metadata(self) -> dict[str, Any]:
        meta = {k: v for k, v in asdict(self).items() if k != "text"}
        meta["faiss_id"] = self.faiss_id
        return meta


class FaissStore:
    """Chunks by FAISS id, their vectors, and their BM25 tokens."""

    def __init__(self, dimension: int) -> None:
        import faiss

        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.chunks: dict[int, StoredChunk] = {}
        self._next_id = 0

    # -- Huayi's own API ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.chunks)

    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray, tokens: Sequence[list[str]]) -> list[int]:
        if len(chunks) == 0:
            return []
        if vectors.shape != (len(chunks), self.dimension):
            raise ValueError(f"expected vectors of shape ({len(chunks)}, {self.dimension}), got {vectors.shape}")
        ids = np.arange(self._next_id, self._next_id + len(chunks), dtype=np.int64)
        self._next_id += len(chunks)
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        for faiss_id, chunk, toks in zip(ids.tolist(), chunks, tokens):
            self.chunks[faiss_id] = StoredChunk(faiss_id, list(toks), **asdict(chunk))
        return ids.tolist()

    def remove_ids(self, ids: Iterable[int]) -> int:
        ids = [i for i in ids if i in self.chunks]
        if ids:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            for i in ids:
                del self.chunks[i]
        return len(ids)

    def search_vector(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not self.chunks:
            return []
        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        scores, ids = self.index.search(query, min(k, len(self.chunks)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def ordered_ids(self) -> list[int]:
        return sorted(self.chunks)

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write `vectors.faiss` and `docstore.sqlite` into a (fresh, private) directory."""
        import faiss

        faiss.write_index(self.index, str(directory / "vectors.faiss"))
        con = sqlite3.connect(directory / "docstore.sqlite")
        try:
            con.execute(
                "CREATE TABLE chunks (id INTEGER PRIMARY KEY, chunk_id TEXT, doc_id TEXT, path TEXT, lang TEXT,"
                " title TEXT, heading TEXT, text TEXT, position INTEGER, tags TEXT, tokens TEXT)"
            )
            con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            con.execute("INSERT INTO meta VALUES ('next_id', ?)", (str(self._next_id),))
            con.executemany(
                f"INSERT INTO chunks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                [
                    (c.faiss_id, c.chunk_id, c.doc_id, c.path, c.lang, c.title, c.heading, c.text, c.position,
                     json.dumps(c.tags, ensure_ascii=False), json.dumps(c.tokens, ensure_ascii=False))
                    for c in (self.chunks[i] for i in self.ordered_ids())
                ],
            )
            con.commit()
        finally:
            con.close()

    @classmethod
    def load(cls, directory: Path, dimension: int) -> "FaissStore":
        import faiss

        store = cls(dimension)
        try:
            index = faiss.read_index(str(directory / "vectors.faiss"))
            con = sqlite3.connect(f"file:{directory / 'docstore.sqlite'}?mode=ro", uri=True)
            try:
                rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM chunks ORDER BY id").fetchall()
                next_id = int(con.execute("SELECT value FROM meta WHERE key='next_id'").fetchone()[0])
            finally:
                con.close()
        except (RuntimeError, sqlite3.DatabaseError, OSError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"index files in {directory} cannot be read: {exc}", path=str(directory)) from exc
        if index.d != dimension or index.ntotal != len(rows):
            raise IndexCorruptError(
                f"index in {directory} holds {index.ntotal} vectors of dimension {index.d}, "
                f"docstore holds {len(rows)} chunks of dimension {dimension}",
                path=str(directory),
            )
        store.index = index
        store._next_id = next_id
        for row in rows:
            data = dict(zip(_COLUMNS, row))
            faiss_id = data.pop("id")
            tags = json.loads(data.pop("tags"))
            tokens = json.loads(data.pop("tokens"))
            store.chunks[faiss_id] = StoredChunk(faiss_id, tokens, tags=tags, **data)
        return store
