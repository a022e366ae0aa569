"""Knowledge-base replies as plain text and fields, cut to Discord's embed limits (Discord-free)."""

from __future__ import annotations

from dataclasses import dataclass

from rag.index import IndexReport
from rag.retriever import SearchResult

from ...i18n import Lang, render
from ...text_limits import clip
from ._catalog import FeedbackCounts
from ._text import TEXTS

__all__ = [
    "EmbedField",
    "KbStats",
    "clip_line",
    "clip_block",
    "discord_time",
    "search_fields",
    "stats_fields",
    "reindex_message",
    "added_message",
]

TITLE_LIMIT = 256
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
SNIPPET_CHARS = 220
SKIPPED_SHOWN = 5


@dataclass(frozen=True)
class EmbedField:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class KbStats:
    """Everything `/kb stats` shows, gathered off the event loop."""

    documents: int
    chunks: int
    chunks_by_lang: dict[str, int]
    uploads_guild: int
    uploads_total: int
    built_at: float | None
    skipped: int
    embedding_model: str
    feedback: FeedbackCounts | None = None


def discord_time(epoch: float) -> str:
    """A timestamp every member's client shows in their own time zone and language."""
    return f"<t:{int(epoch)}:f> (<t:{int(epoch)}:R>)"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def search_fields(result: SearchResult, lang: Lang) -> tuple[str, list[EmbedField]]:
    """(description, one field per hit) for `/kb search`; the description explains an empty result."""
    if not result.hits:
        return render(TEXTS, "search_none", lang, dense=_number(result.best_dense), bm25=_number(result.best_bm25)), []
    fields = []
    for n, hit in enumerate(result.hits, start=1):
        chunk = hit.chunk
        heading = f" — {chunk.heading}" if chunk.heading else ""
        line = render(
            TEXTS, "search_hit", lang, path=chunk.path, score=f"{hit.score:.4f}", dense=_number(hit.dense), bm25=_number(hit.bm25)
        )
        value = f"{clip_line(line, 400)}\n> {clip_line(chunk.text, SNIPPET_CHARS)}"
        fields.append(EmbedField(clip_line(f"[{n}] {chunk.title}{heading}", FIELD_NAME_LIMIT), clip_block(value)))
    return "", fields


def clip_line(text: str, limit: int) -> str:
    """One line (whitespace collapsed) within `limit` characters: titles, names, snippets."""
    return clip(text, limit, flatten=True)


def clip_block(text: str, limit: int = FIELD_VALUE_LIMIT) -> str:
    """Like `clip_line` but keeps line breaks, for field values made of several lines."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def stats_fields(stats: KbStats, lang: Lang) -> list[EmbedField]:
    languages = " · ".join(
        f"{render(TEXTS, f'lang.{code}', lang) if f'lang.{code}' in TEXTS else code} {count}"
        for code, count in sorted(stats.chunks_by_lang.items(), key=lambda item: -item[1])
    ) or "—"
    feedback = (
        render(TEXTS, "stats_feedback_value", lang, up=stats.feedback.up, down=stats.feedback.down, answers=stats.feedback.answers)
        if stats.feedback is not None
        else render(TEXTS, "stats_feedback_none", lang)
    )
    return [
        EmbedField(render(TEXTS, "stats_documents", lang), str(stats.documents), True),
        EmbedField(render(TEXTS, "stats_chunks", lang), str(stats.chunks), True),
        EmbedField(render(TEXTS, "stats_languages", lang), languages, True),
        EmbedField(
            render(TEXTS, "stats_uploads", lang),
            render(TEXTS, "stats_uploads_value", lang, guild=stats.uploads_guild, total=stats.uploads_total),
            True,
        ),
        EmbedField(render(TEXTS, "stats_skipped", lang), str(stats.skipped), True),
        EmbedField(render(TEXTS, "stats_feedback", lang), feedback, True),
        EmbedField(render(TEXTS, "stats_built", lang), discord_time(stats.built_at) if stats.built_at else "—", False),
        EmbedField(render(TEXTS, "stats_model", lang), clip_line(f"`{stats.embedding_model}`", FIELD_VALUE_LIMIT), False),
    ]


def reindex_message(report: IndexReport, documents: int, lang: Lang) -> str:
    text = render(
        TEXTS,
        "reindexed",
        lang,
        seconds=f"{report.seconds:.1f}",
        documents=documents,
        chunks=report.chunks,
        embedded=report.embedded_chunks,
    )
    if report.skipped:
        names = sorted(report.skipped)
        shown = ", ".join(f"`{name}`" for name in names[:SKIPPED_SHOWN]) + (" …" if len(names) > SKIPPED_SHOWN else "")
        text += "\n" + render(TEXTS, "reindex_skipped", lang, count=len(names), files=shown)
    return clip_block(text, 2000)


def added_message(name: str, chunks: int, documents: int, total_chunks: int, seconds: float, renamed: bool, lang: Lang) -> str:
    text = render(
        TEXTS, "added", lang, name=name, chunks=chunks, documents=documents, total_chunks=total_chunks, seconds=f"{seconds:.1f}"
    )
    if renamed:
        text += "\n" + render(TEXTS, "renamed", lang, name=name)
    return text
