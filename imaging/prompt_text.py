"""Hygiene for members' image ideas: bounds, control characters and the blocklist.

Why here and not in the bot: `huayi draw`, /draw and group sessions must refuse the
same things with the same messages, before any model or network work.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import BlockedPromptError, InvalidPromptError

__all__ = ["clean_idea", "validate_idea", "Blocklist", "has_cjk", "is_latin", "HAN", "DEFAULT_BLOCKLIST"]

DEFAULT_BLOCKLIST = Path(__file__).parent / "data" / "blocklist.txt"
# Han ideographs in every Unicode block (BMP, extensions B–H, compatibility).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# What CLIP cannot read as English: Han, CJK punctuation, kana, hangul, full-width forms.
_EAST_ASIAN = re.compile(f"[{HAN}\u3000-\u303f\u3040-\u30ff\u3130-\u318f\uac00-\ud7af\uff00-\uffef]")


def has_cjk(text: str) -> bool:
    return bool(_EAST_ASIAN.search(text))


def is_latin(ch: str) -> bool:
    """Characters a CLIP prompt may carry as typed: Latin letters, digits, punctuation, spaces."""
    return ord(ch) < 0x250 or "\u2000" <= ch <= "\u206f" or ch.isspace()


def clean_idea(text: str) -> str:
    """NFKC (full-width letters and brackets become plain ones), control characters removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    kept = (" " if ch in "\n\t\r" else ch for ch in text if ch in "\n\t\r" or unicodedata.category(ch)[0] != "C")
    return re.sub(r"\s+", " ", "".join(kept)).strip()


def validate_idea(text: object, max_chars: int) -> str:
    """The cleaned idea, or InvalidPromptError with a `reason` (empty, too_long, control)."""
    if not isinstance(text, str):
        raise InvalidPromptError("the idea must be text", reason="empty")
    control = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\t\r")
    if control and control * 2 > len(text):
        raise InvalidPromptError("the idea is mostly control characters", reason="control")
    cleaned = clean_idea(text)
    if not cleaned or not any(ch.isalnum() for ch in cleaned):
        raise InvalidPromptError("the idea is empty", reason="empty")
    if len(cleaned) > max_chars:
        raise InvalidPromptError(
            f"the idea has {len(cleaned)} characters; the limit is {max_chars}",
            reason="too_long",
            length=len(cleaned),
            limit=max_chars,
        )
    return cleaned


@dataclass(frozen=True)
class Blocklist:
    """Refuses ideas (and finished prompts) containing listed words."""

    english: frozenset[str]
    chinese: frozenset[str]

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> Blocklist:
        english: set[str] = set()
        chinese: set[str] = set()
        for raw in entries:
            entry = raw.strip().lower()
            if not entry or entry.startswith("#"):
                continue
            (chinese if has_cjk(entry) else english).add(" ".join(entry.split()))
        return cls(frozenset(english), frozenset(chinese))

    @classmethod
    def load(cls, paths: Iterable[Path] = (DEFAULT_BLOCKLIST,), extra: Iterable[str] = ()) -> Blocklist:
        entries: list[str] = []
        for path in paths:
            entries += path.read_text(encoding="utf-8").splitlines()
        return cls.from_entries([*entries, *extra])

    def match(self, text: str) -> str | None:
        """The first listed entry found in `text`, or None."""
        lowered = text.lower()
        for entry in sorted(self.chinese):
            if entry in lowered:
                return entry
        words = re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", lowered)
        joined = f" {' '.join(words)} "
        for entry in sorted(self.english):
            phrase = " ".join(re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", entry))
            if phrase and f" {phrase} " in joined:
                return entry
        return None

    def check(self, text: str) -> None:
        if self.match(text) is not None:
            raise BlockedPromptError("the idea matches the blocklist")
