"""Hybrid retrieval: dense (FAISS) + BM25, fused by reciprocal rank, with glossary expansion.

The default embedder only reads English, so a Chinese question reaches the dense index
through the English glossary terms it contains, while BM25 (jieba + bigrams) serves the
Chinese text itself. An English question also searches its Chinese terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .aspects import detect_aspects
from .crosslang import DenseView
from .domain import off_topic
from .embeddings import SentenceEmbeddings
from .glossary import PLANT_CATEGORIES, Glossary
from .index import KnowledgeIndex
from .store import StoredChunk
from .text import Lang, detect_lang
from .tokenize import BilingualTokenizer

__all__ = ["RetrievalConfig", "Hit", "SearchResult", "HybridSearcher", "Mode"]

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class RetrievalConfig:
    top_k: int = 5
    candidates: int = 40
    rrf_k: int = 20
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    cross_lang_weight: float = 0.5
    min_dense: float = 0.35
    min_bm25: float = 4.0
    min_bm25_unmatched: float = 8.0


@dataclass
class Hit:
    chunk: StoredChunk
    score: float
    dense: float | None = None
    bm25: float | None = None


@dataclass
class SearchResult:
    lang: Lang
    hits: list[Hit]
    relevant: bool
    best_dense: float
    best_bm25: float
    terms: list[str] = field(default_factory=list)
    query_tokens: list[str] = field(default_factory=list)


class HybridSearcher:
    def __init__(
        self,
        index: KnowledgeIndex,
        embeddings: SentenceEmbeddings,
        tokenizer: BilingualTokenizer,
        glossary: Glossary,
        dense_view: DenseView,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.dense_view = dense_view
        self.index = index
        self.embeddings = embeddings
        self.tokenizer = tokenizer
        self.glossary = glossary
        self.config = config or RetrievalConfig()
        self._by_path: dict[str, list[StoredChunk]] | None = None

    def siblings(self, chunk: StoredChunk) -> list[StoredChunk]:
        """The other chunks of the same file, in document order."""
        if self._by_path is None:
            by_path: dict[str, list[StoredChunk]] = {}
            for c in self.index.store.chunks.values():
                by_path.setdefault(c.path, []).append(c)
            for group in by_path.values():
                group.sort(key=lambda c: c.position)
            self._by_path = by_path
        return [c for c in self._by_path.get(chunk.path, []) if c.faiss_id != chunk.faiss_id]

    def expand(self, text: str, lang: Lang) -> tuple[str, list[str], list[str]]:
        """(dense query, BM25 query tokens, matched glossary terms in both languages)."""
        matches = self.glossary.find(text)
        en_terms = list(dict.fromkeys(m.term.en for m in matches))
        zh_terms = list(dict.fromkeys(m.term.zh for m in matches))
        # The standard section headings belong to plant articles: they only steer retrieval
        # when the question names a plant ("郁金香能开几天"), not "硅胶干花要埋几天".
        aspects = detect_aspects(text) if any(m.term.category in PLANT_CATEGORIES for m in matches) else []
        headings_en = list(dict.fromkeys(a.heading_en for a in aspects if a.heading_en))
        headings_zh = list(dict.fromkeys(a.heading_zh for a in aspects if a.heading_zh))
        dense_query = self.dense_view.query(text, lang)
        if lang == "zh" and headings_en and dense_query and not self.dense_view.multilingual:
            dense_query = ", ".join([dense_query, *headings_en])
        own = " ".join([text, *(zh_terms if lang == "zh" else en_terms), *(headings_zh if lang == "zh" else headings_en)])
        other = en_terms if lang == "zh" else zh_terms
        tokens = self.tokenizer(own) + (self.tokenizer(" ".join(other)) if lang == "zh" else self.tokenizer.known_words(other))
        return dense_query, tokens, zh_terms + en_terms

    def search(self, text: str, mode: Mode = "hybrid", lang: Lang | None = None, top_k: int | None = None) -> SearchResult:
        cfg = self.config
        lang = lang or detect_lang(text)
        k = top_k or cfg.top_k
        dense_query, tokens, terms = self.expand(text, lang)
        store = self.index.store

        dense: dict[int, tuple[int, float]] = {}
        if mode != "bm25" and dense_query.strip() and len(store):
            vector = self.embeddings.encode([dense_query])[0]
            for rank, (cid, score) in enumerate(store.search_vector(vector, cfg.candidates)):
                dense[cid] = (rank, score)

        sparse: dict[int, tuple[int, float]] = {}
        if mode != "dense" and tokens and len(self.index.bm25.ids):
            scores = self.index.bm25.scores(tokens)
            top = np.argsort(-scores)[: cfg.candidates]
            for rank, row in enumerate(top.tolist()):
                if scores[row] <= 0:
                    break
                sparse[int(self.index.bm25.ids[row])] = (rank, float(scores[row]))

        fused: dict[int, float] = {}
        for source, weight in ((dense, cfg.dense_weight), (sparse, cfg.bm25_weight)):
            for cid, (rank, _) in source.items():
                fused[cid] = fused.get(cid, 0.0) + weight / (cfg.rrf_k + rank + 1)
        for cid in fused:
            if store.chunks[cid].lang != lang:
                fused[cid] *= cfg.cross_lang_weight

        order = sorted(fused, key=lambda c: (-fused[c], c))[:k]
        hits = [
            Hit(store.chunks[c], fused[c], dense.get(c, (0, None))[1], sparse.get(c, (0, None))[1]) for c in order
        ]
        best_dense = max((s for _, s in dense.values()), default=0.0)
        best_bm25 = max((s for _, s in sparse.values()), default=0.0)
        relevant = not off_topic(text) and self._relevant(mode, terms, best_dense, best_bm25, lang)
        return SearchResult(lang, hits if relevant else [], relevant, best_dense, best_bm25, terms, tokens)

    def _relevant(self, mode: Mode, terms: list[str], best_dense: float, best_bm25: float, lang: Lang) -> bool:
        """Abstain unless the question is about something the base knows.

        English questions are judged by the encoder, which reads them; Chinese ones need a
        glossary term (the encoder only sees their English terms) plus lexical support.
        """
        cfg = self.config
        dense_ok = best_dense >= cfg.min_dense
        sparse_ok = best_bm25 >= cfg.min_bm25
        if mode == "bm25":
            return (sparse_ok and bool(terms)) or best_bm25 >= cfg.min_bm25_unmatched
        if lang == "en" and not self.dense_view.multilingual:
            return dense_ok if mode == "dense" else dense_ok and (bool(terms) or sparse_ok)
        if mode == "dense":
            return dense_ok and bool(terms)
        # A Chinese question with no glossary term needs strong lexical evidence (e.g. 《瓶史》).
        return (bool(terms) and (dense_ok or sparse_ok)) or best_bm25 >= cfg.min_bm25_unmatched
