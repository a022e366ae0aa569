"""The style catalogue as pages of cards in the member's language (Discord-free)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imaging.styles import StyleTemplate

from ...i18n import Lang, render
from ..kb._format import clip_line
from ._text import TEXTS

__all__ = ["StyleCard", "style_cards", "paginate", "page_footer", "STYLES_PER_PAGE"]

# Four cards keep a page within one screen on a phone, and 12 styles make three even pages.
STYLES_PER_PAGE = 4
DESCRIPTION_LIMIT = 1000


@dataclass(frozen=True)
class StyleCard:
    style_id: str
    title: str
    description: str
    example: str


def style_cards(styles: Iterable[StyleTemplate], lang: Lang) -> list[StyleCard]:
    """One card per style: both names (the member's language first), description, first example."""
    return [
        StyleCard(
            style_id=style.id,
            title=style.label(lang),
            description=clip_line(style.description.get(lang), DESCRIPTION_LIMIT),
            example=clip_line(style.examples[lang][0], 300),
        )
        for style in styles
    ]


def paginate(cards: list[StyleCard], per_page: int = STYLES_PER_PAGE) -> list[list[StyleCard]]:
    return [cards[start : start + per_page] for start in range(0, len(cards), per_page)]


def page_footer(page: int, pages: int, count: int, lang: Lang) -> str:
    """`page` counts from 0; members read it from 1."""
    return render(TEXTS, "styles_footer", lang, page=page + 1, pages=pages, count=count)
