"""A FAISS vector store with a SQLite docstore, behind langchain-core's `VectorStore`.

Exact `IndexFlatIP` over normalised vectors (scores are cosines), wrapped in
`IndexIDMap2` so changed files can be removed and re-added. Nothing is pickled:
vectors go to a `.faiss` file, chunk records to SQLite.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

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

    def to_document(self, **metadata: Any) -> Document:
        meta = {k: v for k, v in asdict(self).items() if k != "text"}
        meta.update(faiss_id=self.faiss_id, **metadata)
        return Document(page_content=self.text, metadata=meta, id=str(self.faiss_id))


class FaissStore(VectorStore):
    def __init__(self, embedding: Embeddings, dimension: int) -> None:
        import faiss

        self._embedding = embedding
        self.dimension = dimension
        self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.chunks: dict[int, StoredChunk] = {}
        self._next_id = 0

    # -- langchain VectorStore interface ---------------------------------------------
    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, *, ids: list[str] | None = None, **kwargs: Any
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        chunks = [
            Chunk(
                chunk_id=(ids[i] if ids else uuid.uuid4().hex[:16]),
                doc_id=str(meta.get("doc_id", "")),
                path=str(meta.get("path", "")),
                lang=str(meta.get("lang", "")),
                title=str(meta.get("title", "")),
                heading=str(meta.get("heading", "")),
                text=text,
                position=int(meta.get("position", i)),
            )
            for i, (text, meta) in enumerate(zip(texts, metadatas))
        ]
        vectors = np.asarray(self._embedding.embed_documents(texts), dtype=np.float32)
        return [str(i) for i in self.add_chunks(chunks, vectors, [[] for _ in chunks])]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if ids is None:
            return False
        self.remove_ids([int(i) for i in ids])
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [self.chunks[int(i)].to_document() for i in ids if int(i) in self.chunks]

    def similarity_search_with_score_by_vector(self, embedding: Sequence[float], k: int = 4) -> list[tuple[Document, float]]:
        return [(self.chunks[i].to_document(score=s), s) for i, s in self.search_vector(np.asarray(embedding), k)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        return self.similarity_search_with_score_by_vector(self._embedding.embed_query(query), k)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k)]

    def _select_relevance_score_fn(self):  # noqa: ANN202 - signature fixed by VectorStore
        return lambda score: score  # already a cosine

    @classmethod
    def from_texts(
        cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, **kwargs: Any
    ) -> "FaissStore":
        dimension = len(embedding.embed_query("dimension probe"))
        store = cls(embedding, dimension)
        store.add_texts(texts, metadatas, ids=kwargs.get("ids"))
        return store

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
    def load(cls, directory: Path, embedding: Embeddings, dimension: int) -> "FaissStore":
        import faiss

        store = cls(embedding, dimension)
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
