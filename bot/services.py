"""The one factory that builds Huayi's objects from `Settings`.

Everything heavy is created on first use, so `huayi --help` stays instant and a Discord
host bot that loads one extension pays only for what it uses.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rag.answer import ExtractiveAnswerer, LLMAnswerer
from rag.crosslang import DenseView
from rag.embeddings import SentenceEmbeddings
from rag.errors import IndexMissingError, MissingExtraError
from rag.glossary import Glossary
from rag.index import QUERY_DICTIONARY, IndexReport, KnowledgeIndex, Progress, SourceRoot, update_index
from rag.retriever import HybridSearcher, RetrievalConfig
from rag.service import RagService
from rag.tokenize import BilingualTokenizer

from .settings import Settings

if TYPE_CHECKING:
    from .imaging_services import ImagingServices

__all__ = ["Services", "build_chat_model"]

log = logging.getLogger(__name__)
TOKENIZER_VERSION = "jieba-bigram-snowball-1"


def build_chat_model(settings: Settings) -> Any:
    """A langchain chat model for the configured provider; names the extra if it is missing."""
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": settings.llm_temperature}
    if settings.llm_provider == "openai":
        try:
            import langchain_openai  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("langchain-openai is not installed", extra="llm") from exc
        kwargs.update(timeout=settings.llm_timeout_s, max_retries=1, api_key=settings.llm_api_key or "not-needed")
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
    else:
        try:
            import langchain_ollama  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("langchain-ollama is not installed", extra="llm") from exc
        kwargs.update(sync_client_kwargs={"timeout": settings.llm_timeout_s})
        if settings.llm_base_url:
            kwargs["base_url"] = settings.llm_base_url
    return init_chat_model(f"{settings.llm_provider}:{settings.llm_model}", **kwargs)


class Services:
    """Lazily built, shared components. One instance per process (CLI run or bot)."""

    def __init__(self, settings: Settings, chat_model_factory: Callable[[], Any] | None = None) -> None:
        self.settings = settings
        self._chat_model_factory = chat_model_factory
        self._lock = threading.RLock()
        self._index: KnowledgeIndex | None = None
        self._rag: RagService | None = None

    @cached_property
    def glossary(self) -> Glossary:
        return Glossary.load(self.settings.resolved_glossary)

    @cached_property
    def imaging(self) -> ImagingServices:
        from .imaging_services import ImagingServices

        return ImagingServices(self)

    @cached_property
    def tokenizer(self) -> BilingualTokenizer:
        return BilingualTokenizer(self.glossary.zh_words())

    def query_tokenizer(self, index: KnowledgeIndex) -> BilingualTokenizer:
        """The tokenizer for questions: jieba loads only the index's own small dictionary when it has one."""
        dictionary = index.directory / QUERY_DICTIONARY if index.directory is not None else None
        if dictionary is None or not dictionary.is_file():
            return self.tokenizer
        return BilingualTokenizer(self.glossary.zh_words(), dictionary=dictionary)

    @cached_property
    def tokenizer_key(self) -> str:
        digest = hashlib.sha256("\n".join(sorted(self.glossary.zh_words())).encode()).hexdigest()[:16]
        return f"{TOKENIZER_VERSION}:{digest}"

    @cached_property
    def embeddings(self) -> SentenceEmbeddings:
        s = self.settings
        return SentenceEmbeddings(
            s.embedding_model, s.embedding_device, s.embedding_batch_size, s.embedding_backend, s.embedding_bulk_precision
        )

    @cached_property
    def dense_view(self) -> DenseView:
        return DenseView(self.glossary, self.settings.embedding_multilingual)

    @property
    def sources(self) -> list[SourceRoot]:
        s = self.settings
        return [SourceRoot(s.kb_root, s.kb_root.name or "knowledge_base"), SourceRoot(s.data_dir / "uploads", "uploads")]

    def build_index(self, rebuild: bool = False, progress: Progress | None = None) -> IndexReport:
        report = update_index(
            self.settings.index_dir,
            self.sources,
            self.embeddings,
            self.tokenizer,
            self.tokenizer_key,
            self.dense_view,
            rebuild,
            progress,
        )
        with self._lock:
            self._index = None
            self._rag = None
        return report

    def index(self, auto_build: bool = True, progress: Progress | None = None) -> KnowledgeIndex:
        """The live index; built on first use when none exists yet (first run after install)."""
        with self._lock:
            if self._index is None:
                try:
                    self._index = KnowledgeIndex.load(self.settings.index_dir, self.embeddings, self.dense_view.key)
                except IndexMissingError:
                    if not auto_build:
                        raise
                    log.warning("no index yet in %s; building it now", self.settings.index_dir)
                    self.build_index(progress=progress)
                    self._index = KnowledgeIndex.load(self.settings.index_dir, self.embeddings, self.dense_view.key)
            return self._index

    def retrieval_config(self) -> RetrievalConfig:
        s = self.settings
        return RetrievalConfig(
            top_k=s.rag_top_k,
            rrf_k=s.rag_rrf_k,
            dense_weight=s.rag_dense_weight,
            bm25_weight=s.rag_bm25_weight,
            min_dense=s.rag_min_dense,
            min_bm25=s.rag_min_bm25,
            min_bm25_unmatched=s.rag_min_bm25_unmatched,
        )

    def rag(self, progress: Progress | None = None) -> RagService:
        with self._lock:
            if self._rag is None:
                index = self.index(progress=progress)
                tokenizer = self.query_tokenizer(index)
                searcher = HybridSearcher(
                    index, self.embeddings, tokenizer, self.glossary, self.dense_view, self.retrieval_config()
                )
                extractive = ExtractiveAnswerer(
                    tokenizer,
                    index.bm25.idf,
                    lambda: (c.text for c in index.store.chunks.values()),
                    self.settings.answer_max_sentences,
                    {"zh": self.settings.answer_max_chars_zh, "en": self.settings.answer_max_chars_en},
                )
                llm = None
                if self.settings.llm_provider != "none":
                    factory = self._chat_model_factory or (lambda: build_chat_model(self.settings))
                    llm = LLMAnswerer(factory, max_passages=self.settings.rag_top_k)
                self._rag = RagService(searcher, self.glossary, extractive, llm, self.settings.rag_max_question_chars)
            return self._rag
