"""Glue between `rag/` and `imaging/`: the glossary as a term finder, retrieval as facts.

Why in `bot/`: imaging must not import rag, so the one place that knows both adapts
rag's types to the small interfaces the prompt enhancer declares.
"""

from __future__ import annotations

from imaging.enhancer import PROMPT_TERMS, Fact, TermFinder, TermHit
from rag.glossary import Glossary
from rag.service import RagService

__all__ = ["term_finder", "retrieve_facts", "prompt_glossary"]


def prompt_glossary(glossary: Glossary) -> Glossary:
    """The knowledge-base glossary plus words that only prompts need (中式 → Chinese-style…).

    They live apart because every glossary word also enters jieba's dictionary for
    retrieval, and style adjectives there shifted answers without helping any question.
    """
    return Glossary(terms=[*glossary.terms, *Glossary.load(PROMPT_TERMS).terms])


def term_finder(glossary: Glossary) -> TermFinder:
    def find(text: str) -> list[TermHit]:
        return [
            TermHit(m.surface, m.start, m.term.en, m.term.category, m.term.zh) for m in glossary.find(text)
        ]

    return find


def retrieve_facts(rag: RagService, query: str, top_k: int = 4) -> list[Fact]:
    """The passages hybrid retrieval finds for the idea; none when nothing is relevant."""
    result = rag.searcher.search(query, top_k=top_k)
    if not result.relevant:
        return []
    return [Fact(hit.chunk.text, hit.chunk.title, hit.chunk.path) for hit in result.hits]
