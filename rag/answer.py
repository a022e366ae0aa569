"""Answers with numbered citations: extractive by default, an LLM when configured.

The extractive answerer needs no model: it picks the sentences of the top passages
that share the most informative words with the question, in the question's language.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .aspects import detect_aspects
from .conversation import Turn
from .messages import message
from .retriever import Hit
from .store import StoredChunk
from .text import Lang, split_sentences
from .tokenize import BilingualTokenizer

__all__ = ["Source", "Answer", "ExtractiveAnswerer", "LLMAnswerer", "LLMAnswerError"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    title: str
    path: str
    lang: str
    score: float
    doc_id: str = ""
    heading: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "path": self.path, "lang": self.lang, "score": round(self.score, 6)}


@dataclass
class Answer:
    text: str
    lang: Lang
    abstained: bool
    sources: list[Source] = field(default_factory=list)
    backend: Literal["extractive", "llm", "none"] = "extractive"
    reason: str | None = None
    fallback_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"answer": self.text, "abstained": self.abstained, "sources": [s.as_json() for s in self.sources]}


def _source(hit: Hit) -> Source:
    c = hit.chunk
    return Source(c.title, c.path, c.lang, hit.score, c.doc_id, c.heading)


class ExtractiveAnswerer:
    def __init__(
        self,
        tokenizer: BilingualTokenizer,
        idf: Callable[[], dict[str, float]],
        max_sentences: int = 3,
        max_passages: int = 3,
    ) -> None:
        self.tokenizer = tokenizer
        self.idf = idf
        self.max_sentences = max_sentences
        self.max_passages = max_passages
        self._cache: dict[int, list[tuple[str, frozenset[str]]]] = {}

    def _sentences(self, chunk: StoredChunk) -> list[tuple[str, frozenset[str]]]:
        cached = self._cache.get(chunk.faiss_id)
        if cached is None:
            cached = [(s, frozenset(self.tokenizer(s))) for s in split_sentences(chunk.text, chunk.lang)]  # type: ignore[arg-type]
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[chunk.faiss_id] = cached
        return cached

    def answer(
        self,
        lang: Lang,
        hits: Sequence[Hit],
        query_tokens: Sequence[str],
        question: str = "",
        siblings: Callable[[StoredChunk], Sequence[StoredChunk]] | None = None,
    ) -> Answer:
        """Compose an answer from the best sentences of the top passages.

        The other sections of the best document are candidates too (at a lower prior):
        retrieval is usually right about the document even when another section of it
        holds the answering sentence.
        """
        same = [h for h in hits if h.chunk.lang == lang]
        passages: list[tuple[float, Hit]] = [(float(r), h) for r, h in enumerate((same or list(hits))[: self.max_passages])]
        if not passages:
            return Answer(message("no_answer", lang), lang, True, backend="none", reason="no_answer")
        if siblings is not None:
            seen = {h.chunk.faiss_id for _, h in passages}
            top = passages[0][1]
            for chunk in siblings(top.chunk):
                if chunk.faiss_id not in seen:
                    passages.append((1.5, Hit(chunk, top.score * 0.5)))
        idf = self.idf()
        query = set(query_tokens)
        default_idf = max(idf.values(), default=1.0)
        aspects = detect_aspects(question)
        headings = ({a.heading_zh for a in aspects} | {a.heading_en for a in aspects}) - {""}
        cues = [a.sentence for a in aspects if a.sentence is not None]
        scored: list[tuple[float, int, int, str]] = []
        subject_cache: dict[str, frozenset[str]] = {}
        for index, (prior, hit) in enumerate(passages):
            on_aspect = hit.chunk.heading.split(" > ")[0] in headings
            title = hit.chunk.title
            if title not in subject_cache:
                subject_cache[title] = frozenset(self.tokenizer(title))
            subject = subject_cache[title]
            for pos, (sentence, tokens) in enumerate(self._sentences(hit.chunk)):
                # The subject's own name is in most of its sentences: it says little about which one answers.
                overlap = sum(idf.get(t, default_idf) * (0.15 if t in subject else 1.0) for t in tokens & query)
                score = overlap / (1.0 + 0.35 * prior)
                if on_aspect:
                    score += 2.0
                if any(cue.search(sentence) for cue in cues):
                    score += 3.0
                scored.append((score, index, pos, sentence))
        best = sorted(scored, key=lambda s: (-s[0], s[1], s[2]))
        chosen = [s for s in best[: self.max_sentences] if s[0] > 0] or best[:1]
        chosen.sort(key=lambda s: (s[1], s[2]))

        numbers: dict[str, int] = {}
        sources: list[Source] = []
        parts: list[str] = []
        for _, index, _, sentence in chosen:
            hit = passages[index][1]
            key = hit.chunk.path
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                sources.append(_source(hit))
            parts.append(f"{sentence}[{numbers[key]}]" if lang == "zh" else f"{sentence} [{numbers[key]}]")
        text = ("" if lang == "zh" else " ").join(parts)
        if not same:
            text = f"{message('other_language_note', lang)}\n{text}"
        return Answer(text, lang, False, sources, backend="extractive")


class LLMAnswerError(RuntimeError):
    """The LLM failed or gave an answer that cannot be trusted; callers fall back."""


_SYSTEM = {
    "zh": (
        "你是花艺社区的助手「花艺」。只能根据下面编号的资料回答，不得使用资料以外的知识。"
        "每个事实后用方括号标注资料编号，如[1]。用简体中文回答，简洁准确。"
        "如果资料无法回答问题，只回复 NO_ANSWER。"
    ),
    "en": (
        "You are Huayi, the assistant of a floral community. Answer ONLY from the numbered passages below; "
        "use no outside knowledge. Cite the passage number in square brackets after each fact, like [1]. "
        "Answer in English, concisely and accurately. If the passages do not answer the question, reply only NO_ANSWER."
    ),
}
_CITATION = re.compile(r"\[(\d{1,2})\]")


class LLMAnswerer:
    """Grounded answers through any langchain chat model (built by `init_chat_model`)."""

    def __init__(self, chat_model_factory: Callable[[], Any], max_passages: int = 5, history_turns: int = 4) -> None:
        self._factory = chat_model_factory
        self._model: Any = None
        self.max_passages = max_passages
        self.history_turns = history_turns

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = self._factory()
        return self._model

    def answer(self, question: str, lang: Lang, hits: Sequence[Hit], history: Sequence[Turn] = ()) -> Answer:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        passages = list(hits)[: self.max_passages]
        context = "\n\n".join(
            f"[{n}] {h.chunk.title} · {h.chunk.heading}\n{h.chunk.text}" for n, h in enumerate(passages, start=1)
        )
        messages: list[Any] = [SystemMessage(_SYSTEM[lang] + "\n\n" + context)]
        for turn in list(history)[-self.history_turns :]:
            messages.append(HumanMessage(turn.text) if turn.role == "user" else AIMessage(turn.text))
        messages.append(HumanMessage(question))
        try:
            reply = self.model.invoke(messages)
        except Exception as exc:  # any transport, auth or provider error means "fall back"
            raise LLMAnswerError(f"{type(exc).__name__}: {exc}") from exc
        text = reply.content if isinstance(reply.content, str) else str(reply.content)
        text = text.strip()
        if not text:
            raise LLMAnswerError("empty reply")
        if "NO_ANSWER" in text:
            return Answer(message("no_answer", lang), lang, True, backend="llm", reason="no_answer")
        cited = [int(n) for n in _CITATION.findall(text) if 1 <= int(n) <= len(passages)]
        if not cited:
            raise LLMAnswerError("reply cites no passage")
        order = list(dict.fromkeys(cited))
        renumber = {old: new for new, old in enumerate(order, start=1)}
        text = _CITATION.sub(lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "", text)
        return Answer(text, lang, False, [_source(passages[n - 1]) for n in order], backend="llm")
