"""An answer as the pieces of a Discord embed, cut to Discord's limits (Discord-free)."""

from __future__ import annotations

from dataclasses import dataclass

from rag.answer import Answer

from ...i18n import Lang, render
from ...text_limits import clip
from ._text import TEXTS

__all__ = ["AnswerCard", "answer_card", "clip", "thread_title"]

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
SOURCES_SHOWN = 5


@dataclass(frozen=True)
class AnswerCard:
    title: str
    description: str
    sources_label: str
    sources: str
    footer: str
    abstained: bool


def answer_card(question: str, answer: Answer, ui_lang: Lang) -> AnswerCard:
    """The embed parts: the question as title, the answer, numbered sources, how it was answered."""
    body = answer.text
    if answer.fallback_reason:
        body = f"{render(TEXTS, 'llm_fallback', ui_lang)}\n\n{body}"
    lines = [f"**[{n}]** {source.title}" + (f" — {source.heading}" if source.heading else "")
             for n, source in enumerate(answer.sources[:SOURCES_SHOWN], start=1)]
    sources = clip("\n".join(lines), FIELD_LIMIT) if lines else render(TEXTS, "no_sources", ui_lang)
    backend = render(TEXTS, f"backend.{answer.backend}", ui_lang)
    return AnswerCard(
        title=clip(question.replace("\n", " "), TITLE_LIMIT),
        description=clip(body, DESCRIPTION_LIMIT),
        sources_label=render(TEXTS, "sources", ui_lang),
        sources=sources,
        footer=render(TEXTS, "footer", ui_lang, backend=backend),
        abstained=answer.abstained,
    )


def thread_title(question: str, lang: Lang) -> str:
    """A thread name (Discord allows 1–100 characters) from the question."""
    name = render(TEXTS, "thread_name", lang, question=" ".join(question.split()))
    return clip(name, 100) or "Huayi"
