"""The question-answering service: validate → contextualise → retrieve → answer.

Synchronous and thread-safe for reads; the Discord layer calls it through
`asyncio.to_thread`. Built by `bot.services`, never at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .answer import Answer, ExtractiveAnswerer, LLMAnswerer, LLMAnswerError
from .conversation import Turn, contextualise
from .glossary import PLANT_CATEGORIES, Glossary
from .messages import message
from .retriever import HybridSearcher, Mode, SearchResult
from .text import Lang, detect_lang, validate_question

__all__ = ["RagService", "Asked"]


log = logging.getLogger(__name__)


@dataclass
class Asked:
    """An answer together with the retrieval that produced it (for eval and /kb search)."""

    answer: Answer
    search: SearchResult
    query: str


class RagService:
    def __init__(
        self,
        searcher: HybridSearcher,
        glossary: Glossary,
        extractive: ExtractiveAnswerer,
        llm: LLMAnswerer | None = None,
        max_question_chars: int = 1000,
    ) -> None:
        self.searcher = searcher
        self.glossary = glossary
        self.extractive = extractive
        self.llm = llm
        self.max_question_chars = max_question_chars

    def _answer_tokens(self, query: str, lang: str) -> tuple[list[str], list[str]]:
        """(words that pick answering sentences, the words that only name the plant asked about).

        The first are the question's own words plus glossary synonyms in its language;
        translations into the other language are left out, as they would favour the
        sentences that merely list a plant's foreign names. The plant's names appear in
        most sentences about it, so they say little about which sentence answers.
        """
        tokenizer = self.searcher.tokenizer
        synonyms = self.glossary.translate_terms(query, lang)
        plants = [m.term for m in self.glossary.find(query) if m.term.category in PLANT_CATEGORIES]
        names = [form for term in plants for form in (term.zh_forms if lang == "zh" else term.en_forms)]
        return tokenizer(" ".join([query, *synonyms])), tokenizer(" ".join(names))

    def _extractive(self, query: str, lang: Lang, result: SearchResult) -> Answer:
        tokens, subject = self._answer_tokens(query, lang)
        return self.extractive.answer(lang, result.hits, tokens, query, self.searcher.siblings, subject)

    def ask(self, question: str, history: Sequence[Turn] = (), mode: Mode = "hybrid") -> Answer:
        return self.ask_detailed(question, history, mode).answer

    def ask_detailed(self, question: str, history: Sequence[Turn] = (), mode: Mode = "hybrid") -> Asked:
        # 1. Validate: raises InvalidQuestionError with a reason code.
        question = validate_question(question, self.max_question_chars)
        lang = detect_lang(question)
        # 2. Carry the subject of earlier turns into a follow-up.
        query = contextualise(question, history, self.glossary)
        # 3. Retrieve; an irrelevant result set means abstain.
        result = self.searcher.search(query, mode=mode, lang=lang)
        if not result.relevant:
            reason = "no_answer" if result.terms else "out_of_domain"
            answer = Answer(message(reason, lang), lang, True, backend="none", reason=reason)
            return Asked(answer, result, query)
        # 4. Answer: the LLM when configured, else (or on any LLM failure) extractive.
        if self.llm is not None:
            try:
                return Asked(self.llm.answer(question, lang, result.hits, history), result, query)
            except LLMAnswerError as exc:
                log.warning("LLM answer failed, using extractive answer: %s", exc)
                answer = self._extractive(query, lang, result)
                answer.fallback_reason = str(exc)
                return Asked(answer, result, query)
        return Asked(self._extractive(query, lang, result), result, query)
