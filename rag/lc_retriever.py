"""The hybrid searcher as a langchain-core `BaseRetriever`, for chains and agents.

Kept apart from `retriever.py` because importing langchain's retriever machinery is
slow, and the CLI's answer path does not need it.
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .retriever import HybridSearcher, Mode
from .vectorstore import to_document

__all__ = ["KnowledgeRetriever"]


class KnowledgeRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    searcher: HybridSearcher
    mode: Mode = "hybrid"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = self.searcher.search(query, self.mode)
        return [to_document(h.chunk, score=h.score, dense=h.dense, bm25=h.bm25) for h in result.hits]
