"""Merging members' contributions into one de-duplicated brief (Discord-free).

Why keys and not plain text: "牡丹", "Peonies" and "ｐｅｏｎｙ" are the same flower to the
painter. An item is identified by the glossary terms it names (their English forms)
plus whatever words remain, normalised for case and width, so the brief lists each idea
once and credits everyone who suggested it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from imaging.prompt_text import Blocklist, clean_idea

from ._errors import SessionError

__all__ = [
    "Category",
    "CATEGORIES",
    "Contribution",
    "BriefItem",
    "Brief",
    "MergeOutcome",
    "MAX_CONTRIBUTION_CHARS",
    "MAX_ITEMS",
    "clean_contribution",
    "split_items",
    "item_key",
    "merge",
    "merge_new",
    "join_idea",
]

Category = Literal["flowers", "colours", "vessels", "moods", "other"]
CATEGORIES: tuple[Category, ...] = ("flowers", "vessels", "colours", "moods", "other")
MAX_CONTRIBUTION_CHARS = 200
MAX_ITEMS = 40

_SEPARATORS = re.compile(r"[,，、;；\n。|/]+")
_MENTION = re.compile(r"<(?:@[!&]?|#)\d+>|@(?:everyone|here)\b")
_WORD = re.compile(r"\w+")
_FILLER_EN = frozenset(
    {"a", "an", "the", "some", "few", "and", "with", "of", "please", "add", "mood", "colour", "color", "tone", "feel", "vibe"}
)
_FILLER_ZH = ("一些", "一点", "几枝", "几朵", "氛围", "色调", "感觉", "的", "和", "与", "及")
_GLOSSARY_CATEGORY: dict[str, Category] = {
    "flower": "flowers",
    "foliage": "flowers",
    "colour": "colours",
    "vessel": "vessels",
    "mood": "moods",
}
_CATEGORY_RANK = {name: rank for rank, name in enumerate(CATEGORIES)}


class _Term(Protocol):
    @property
    def en(self) -> str: ...
    @property
    def category(self) -> str: ...


class _Match(Protocol):
    @property
    def term(self) -> _Term: ...
    @property
    def surface(self) -> str: ...
    @property
    def start(self) -> int: ...


class TermLookup(Protocol):
    """What the brief needs of `rag.glossary.Glossary`."""

    def find(self, text: str) -> Sequence[_Match]: ...


@dataclass(frozen=True)
class Contribution:
    """One member's text as stored; `name` is their display name when they wrote it."""

    user_id: str
    name: str
    text: str
    at: float = 0.0


@dataclass
class BriefItem:
    key: str
    text: str
    category: Category
    contributors: list[tuple[str, str]] = field(default_factory=list)

    def credit(self, user_id: str, name: str) -> None:
        if all(uid != user_id for uid, _ in self.contributors):
            self.contributors.append((user_id, name))

    @property
    def names(self) -> list[str]:
        return [name for _, name in self.contributors]


@dataclass(frozen=True)
class Brief:
    items: tuple[BriefItem, ...] = ()

    def idea(self, theme: str) -> str:
        """Theme first (it matters most), then every item in the order it was suggested."""
        return join_idea(theme, [item.text for item in self.items])

    def by_category(self) -> dict[Category, list[BriefItem]]:
        grouped: dict[Category, list[BriefItem]] = {name: [] for name in CATEGORIES}
        for item in self.items:
            grouped[item.category].append(item)
        return {name: items for name, items in grouped.items() if items}

    def contributors(self) -> list[tuple[str, str, int]]:
        """(user id, latest display name, items credited), first contributor first."""
        names: dict[str, str] = {}
        counts: dict[str, int] = {}
        for item in self.items:
            for user_id, name in item.contributors:
                names[user_id] = name
                counts[user_id] = counts.get(user_id, 0) + 1
        return [(user_id, names[user_id], counts[user_id]) for user_id in names]


@dataclass(frozen=True)
class MergeOutcome:
    """What one contribution changed: the new brief, the items it added and those it only re-credited."""

    brief: Brief
    added: list[str]
    repeated: list[str]


def join_idea(theme: str, parts: Iterable[str]) -> str:
    return ", ".join([theme, *parts]) if theme else ", ".join(parts)


def clean_contribution(text: str, blocklist: Blocklist, max_chars: int = MAX_CONTRIBUTION_CHARS) -> str:
    """The text cleaned of mentions and control characters, or SessionError (empty, too_long, blocked)."""
    cleaned = clean_idea(_MENTION.sub(" ", text or ""))
    if not cleaned or not any(ch.isalnum() for ch in cleaned):
        raise SessionError("empty")
    if len(cleaned) > max_chars:
        raise SessionError("too_long", length=len(cleaned), limit=max_chars)
    if blocklist.match(cleaned) is not None:
        raise SessionError("blocked")
    return cleaned


def split_items(text: str) -> list[str]:
    """One contribution may list several ideas: "red peonies, 黑色花瓶; calm"."""
    parts = (part.strip(" \t-–—*•·.。!！?？:：") for part in _SEPARATORS.split(text))
    return [part for part in parts if part and any(ch.isalnum() for ch in part)]


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def item_key(text: str, glossary: TermLookup) -> tuple[str, Category]:
    """A key equal for items that name the same things, and the category of the main term."""
    normal = _normal(text)
    matches = list(glossary.find(normal))
    terms = sorted({m.term.en.casefold() for m in matches})
    residual = list(normal)
    for match in matches:
        for i in range(match.start, min(len(residual), match.start + len(match.surface))):
            residual[i] = " "
    words = []
    for word in _WORD.findall("".join(residual)):
        for filler in _FILLER_ZH:
            word = word.replace(filler, "")
        if word and word not in _FILLER_EN:
            words.append(word)
    categories = [_GLOSSARY_CATEGORY.get(m.term.category, "other") for m in matches]
    category = min(categories, key=_CATEGORY_RANK.__getitem__, default="other")
    key = "+".join(terms) + "|" + " ".join(words)
    return (key if key != "|" else f"|{normal.strip()}"), category


def merge(contributions: Iterable[Contribution], glossary: TermLookup) -> Brief:
    """Every contribution's items, first suggestion's wording kept, each contributor credited once."""
    items: dict[str, BriefItem] = {}
    for contribution in contributions:
        for text in split_items(contribution.text):
            key, category = item_key(text, glossary)
            item = items.get(key)
            if item is None:
                item = items[key] = BriefItem(key, text, category)
            item.credit(contribution.user_id, contribution.name)
    return Brief(tuple(items.values()))


def merge_new(
    brief: Brief, contribution: Contribution, glossary: TermLookup, *, theme: str, max_idea_chars: int
) -> MergeOutcome:
    """The brief with one more contribution, or SessionError when it would outgrow the drawing limits."""
    items = {item.key: BriefItem(item.key, item.text, item.category, list(item.contributors)) for item in brief.items}
    added: list[str] = []
    repeated: list[str] = []
    for text in split_items(contribution.text):
        key, category = item_key(text, glossary)
        item = items.get(key)
        if item is None:
            item = items[key] = BriefItem(key, text, category)
            added.append(text)
        elif item.text not in added and item.text not in repeated:
            repeated.append(item.text)
        item.credit(contribution.user_id, contribution.name)
    if not added and not repeated:
        raise SessionError("empty")
    merged = Brief(tuple(items.values()))
    if added and len(merged.items) > MAX_ITEMS:
        raise SessionError("brief_full", limit=max_idea_chars)
    if added and len(merged.idea(theme)) > max_idea_chars:
        raise SessionError("brief_full", limit=max_idea_chars)
    return MergeOutcome(merged, added, repeated)
