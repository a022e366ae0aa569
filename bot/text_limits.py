"""Fitting text into Discord's length limits without cutting words or sentences in half."""

from __future__ import annotations

__all__ = ["clip"]


def clip(text: str, limit: int, *, flatten: bool = False) -> str:
    """At most `limit` characters, cut at a word or sentence boundary and marked with an ellipsis.

    `flatten` first collapses all whitespace (for titles, names and one-line fields).
    """
    text = " ".join(text.split()) if flatten else text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    boundary = max(cut.rfind(" "), cut.rfind("。"), cut.rfind("，"), cut.rfind("\n"))
    if boundary > limit * 0.6:
        cut = cut[:boundary]
    return cut.rstrip() + "…"
