"""Answers with numbered citations: extractive by default, an LLM when configured.

The extractive answerer needs no model: it picks the sentences of the top passages
that share the most informative words with the question, in the question's language.
"""

from __future__ import annotations

import logging
import re
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .aspects import detect_aspects
from .conversation import Turn
from .messages import message
from .retriever import Hit
from .store import StoredChunk
from .text import Lang, split_sentences
from .tokenize import BilingualTokenizer

__all__ = ["Source", "Answer", "Candidate", "ExtractiveAnswerer", "LLMAnswerer", "LLMAnswerError"]

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


_CONTINUES = re.compile(
    r"^(?:它|它们|其|这|此|该|另一|另外|但|但是|不过|而|因此|所以|同时|\s*(?:It|Its|They|Their|These|This|That|Another|But|However|So|Both)\b)"
)


_HAN_CHAR = re.compile(r"[\u4e00-\u9fff]")
# Function characters carry no topic; the rest are matched one by one as a fallback for segmentation.
_STOP_CHARS = frozenset("的了是在和与及或也就都而又还要会能可把被让给对为这那有个一不吗呢吧啊么之其以于中上下时等如")


def han_characters(text: str) -> frozenset[str]:
    return frozenset(ch for ch in _HAN_CHAR.findall(text) if ch not in _STOP_CHARS)


@dataclass(frozen=True)
class Candidate:
    """A sentence that may go into an extractive answer, with where it came from."""

    score: float
    passage: int
    position: int
    sentence: str
    hit: Hit


def _source(hit: Hit) -> Source:
    c = hit.chunk
    return Source(c.title, c.path, c.lang, hit.score, c.doc_id, c.heading)


class ExtractiveAnswerer:
    def __init__(
        self,
        tokenizer: BilingualTokenizer,
        idf: Callable[[], dict[str, float]],
        texts: Callable[[], Iterable[str]] = tuple,
        max_sentences: int = 6,
        max_chars: dict[str, int] | None = None,
        max_passages: int = 3,
        other_doc_penalty: float = 1.0,
        continuation_weight: float = 0.6,
        top_passage_bonus: float = 1.0,
        char_weight: float = 0.35,
    ) -> None:
        self.tokenizer = tokenizer
        self.idf = idf
        self.texts = texts
        self.max_sentences = max_sentences
        self.max_chars = max_chars or {"zh": 360, "en": 650}
        self._title_cache: dict[str, frozenset[str]] = {}
        self.max_passages = max_passages
        self.other_doc_penalty = other_doc_penalty
        self.continuation_weight = continuation_weight
        self.top_passage_bonus = top_passage_bonus
        self.char_weight = char_weight
        self._cache: dict[int, list[tuple[str, frozenset[str], frozenset[str]]]] = {}
        self._char_idf: dict[str, float] = {}
        self._texts: list[str] | None = None

    def _sentences(self, chunk: StoredChunk) -> list[tuple[str, frozenset[str], frozenset[str]]]:
        cached = self._cache.get(chunk.faiss_id)
        if cached is None:
            cached = [
                # Chinese names inside English text are matched by characters; segmenting them is not worth loading jieba.
                (s, frozenset(self.tokenizer(s, chinese=chunk.lang != "en")), han_characters(s))
                for s in split_sentences(chunk.text, chunk.lang, clauses=False)  # type: ignore[arg-type]
            ]
            if len(self._cache) > 20000:
                self._cache.clear()
            self._cache[chunk.faiss_id] = cached
        return cached

    def rank(
        self,
        lang: Lang,
        hits: Sequence[Hit],
        query_tokens: Sequence[str],
        question: str = "",
        siblings: Callable[[StoredChunk], Sequence[StoredChunk]] | None = None,
        subject_tokens: Iterable[str] = (),
    ) -> list[Candidate]:
        """Every candidate sentence, best first.

        The other sections of the best document are candidates too: retrieval is usually
        right about the document even when another section of it holds the answer.
        Sentences from other documents must earn their place against a rank penalty, and
        when the question names a plant (`subject_tokens`), articles about other plants
        are left out altogether.
        """
        same = [h for h in hits if h.chunk.lang == lang] or list(hits)
        passages: list[tuple[float, Hit]] = [(float(r), h) for r, h in enumerate(same[: self.max_passages])]
        if not passages:
            return []
        named = frozenset(subject_tokens)
        top = passages[0][1]
        if siblings is not None:
            seen = {h.chunk.faiss_id for _, h in passages}
            for chunk in siblings(top.chunk):
                if chunk.faiss_id not in seen:
                    passages.append((0.5, Hit(chunk, top.score * 0.5)))
        idf = self.idf()
        query = set(query_tokens)
        query_chars = han_characters(question) | han_characters("".join(query_tokens))
        default_idf = max(idf.values(), default=1.0)
        aspects = detect_aspects(question)
        headings = ({a.heading_zh for a in aspects} | {a.heading_en for a in aspects}) - {""}
        cues = [a.sentence for a in aspects if a.sentence is not None]
        ranked: list[Candidate] = []
        for index, (prior, hit) in enumerate(passages):
            on_aspect = hit.chunk.heading.split(" > ")[0] in headings
            other_doc = hit.chunk.doc_id != top.chunk.doc_id
            title = hit.chunk.title
            if other_doc and named and not self._title_tokens(title) & named:
                continue  # the question names a plant; another plant's article does not answer it
            subject = self._title_tokens(title) | named
            subject_chars = han_characters(title)
            previous = 0.0
            for pos, (sentence, tokens, chars) in enumerate(self._sentences(hit.chunk)):
                # The subject's own name is in most of its sentences: it says little about which one answers.
                shared = tokens & query
                overlap = sum(idf.get(t, default_idf) * (0.15 if t in subject else 1.0) for t in shared)
                # Characters catch what segmentation split differently ("养猫" in the question, "猫" in the text).
                loose = chars & query_chars - subject_chars - set("".join(shared))
                overlap += self.char_weight * sum(self.char_idf(ch) for ch in loose)
                score = overlap / (1.0 + 0.35 * prior)
                # "It …", "另一条 …" continue the sentence before: they share its relevance.
                if _CONTINUES.match(sentence):
                    score += self.continuation_weight * previous
                previous = score
                if index == 0:
                    score += self.top_passage_bonus
                if on_aspect:
                    score += 2.0
                if any(cue.search(sentence) for cue in cues):
                    score += 3.0
                if other_doc:
                    score -= self.other_doc_penalty
                ranked.append(Candidate(score, index, pos, sentence, hit))
        ranked.sort(key=lambda c: (-c.score, c.passage, c.position))
        return ranked

    def _title_tokens(self, title: str) -> frozenset[str]:
        tokens = self._title_cache.get(title)
        if tokens is None:
            tokens = self._title_cache[title] = frozenset(self.tokenizer(title))
        return tokens

    def char_idf(self, ch: str) -> float:
        """Inverse document frequency of one Chinese character over the indexed texts.

        Counted on demand for the few characters a question brings: a substring test per
        text is fast, where a table of every character costs a cold `ask` a noticeable pause.
        """
        idf = self._char_idf.get(ch)
        if idf is None:
            if self._texts is None:
                self._texts = list(self.texts())
            n = len(self._texts)
            df = sum(1 for text in self._texts if ch in text)
            idf = self._char_idf[ch] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf

    def _select(self, ranked: list[Candidate], budget: int) -> list[Candidate]:
        """The best sentences that fit the length budget (the best one always goes in)."""
        chosen: list[Candidate] = [ranked[0]]
        used = len(ranked[0].sentence)
        for c in ranked[1:]:
            if len(chosen) >= self.max_sentences or c.score <= 0:
                break
            if used + len(c.sentence) <= budget:
                chosen.append(c)
                used += len(c.sentence)
        return chosen

    def answer(
        self,
        lang: Lang,
        hits: Sequence[Hit],
        query_tokens: Sequence[str],
        question: str = "",
        siblings: Callable[[StoredChunk], Sequence[StoredChunk]] | None = None,
        subject_tokens: Iterable[str] = (),
    ) -> Answer:
        """Compose an answer from the best sentences, in reading order, with numbered citations."""
        ranked = self.rank(lang, hits, query_tokens, question, siblings, subject_tokens)
        if not ranked:
            return Answer(message("no_answer", lang), lang, True, backend="none", reason="no_answer")
        chosen = self._select(ranked, self.max_chars.get(lang, 600))
        chosen.sort(key=lambda c: (c.passage, c.position))

        numbers: dict[str, int] = {}
        sources: list[Source] = []
        parts: list[str] = []
        for c in chosen:
            key = c.hit.chunk.path
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                sources.append(_source(c.hit))
            parts.append(f"{c.sentence}[{numbers[key]}]" if lang == "zh" else f"{c.sentence} [{numbers[key]}]")
        text = ("" if lang == "zh" else " ").join(parts)
        if not any(h.chunk.lang == lang for h in hits):
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
