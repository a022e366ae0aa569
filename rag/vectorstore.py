"""Huayi's FAISS store as a langchain-core `VectorStore`, for chains and agents.

Kept apart from `store.py` because importing langchain's vector-store machinery is
slow, and the CLI's answer path does not need it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from .chunking import Chunk
from .store import FaissStore, StoredChunk

__all__ = ["FaissVectorStore", "LangchainEmbeddings", "as_langchain", "to_document"]


class LangchainEmbeddings(Embeddings):
    """Any object with `embed_documents`/`embed_query` (such as `SentenceEmbeddings`) as langchain `Embeddings`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def as_langchain(embeddings: Any) -> Embeddings:
    return embeddings if isinstance(embeddings, Embeddings) else LangchainEmbeddings(embeddings)


def to_document(chunk: StoredChunk, **metadata: Any) -> Document:
    """A stored chunk as a langchain `Document`; the id is the FAISS id."""
    return Document(page_content=chunk.text, metadata={**chunk.metadata(), **metadata}, id=str(chunk.faiss_id))


class FaissVectorStore(VectorStore):
    """Exact cosine search over a `FaissStore`; relevance scores are the cosines themselves."""

    def __init__(
        self,
        embedding: Embeddings | Any,
        store: FaissStore,
        tokenizer: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._embedding = as_langchain(embedding)
        self.store = store
        self._tokenizer = tokenizer

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
        vectors = np.asarray(self._embedding.embed_documents(texts), dtype=np.float32).reshape(len(texts), -1)
        tokens = [self._tokenizer(t) if self._tokenizer else [] for t in texts]
        return [str(i) for i in self.store.add_chunks(chunks, vectors, tokens)]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if ids is None:
            return False
        self.store.remove_ids([int(i) for i in ids])
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        chunks = self.store.chunks
        return [to_document(chunks[int(i)]) for i in ids if int(i) in chunks]

    def similarity_search_with_score_by_vector(
        self, embedding: Sequence[float], k: int = 4
    ) -> list[tuple[Document, float]]:
        hits = self.store.search_vector(np.asarray(embedding, dtype=np.float32), k)
        return [(to_document(self.store.chunks[i], score=s), s) for i, s in hits]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        return self.similarity_search_with_score_by_vector(self._embedding.embed_query(query), k)

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda score: score

    @classmethod
    def from_texts(
        cls, texts: list[str], embedding: Embeddings | Any, metadatas: list[dict] | None = None, **kwargs: Any
    ) -> "FaissVectorStore":
        dimension = len(embedding.embed_query("dimension probe"))
        vectorstore = cls(embedding, FaissStore(dimension), kwargs.get("tokenizer"))
        vectorstore.add_texts(texts, metadatas, ids=kwargs.get("ids"))
        return vectorstore
