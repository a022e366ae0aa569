"""The /help guide: a curated section per loaded feature, plus its real command names (Discord-free).

The sections are written by hand, because a command's one-line description cannot
explain buttons or conversation; the command names come from the live command tree,
so the guide never lists a feature this bot did not load, and never misses a command.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ...i18n import Lang, render
from ..kb._format import EmbedField, clip_block
from ._text import TEXTS

__all__ = ["CommandEntry", "SECTION_ORDER", "feature_of", "help_fields"]

SECTION_ORDER = ("ask", "draw", "info", "session", "kb")
EXTENSIONS_PACKAGE = "bot.exts."


@dataclass(frozen=True)
class CommandEntry:
    """A slash command as members type it (`kb add`) and the feature that provides it."""

    name: str
    feature: str


def feature_of(module: str) -> str | None:
    """`bot.exts.kb._cog` → `kb`; None for a host bot's own commands."""
    if not module.startswith(EXTENSIONS_PACKAGE):
        return None
    return module[len(EXTENSIONS_PACKAGE) :].split(".", 1)[0] or None


def help_fields(commands: Iterable[CommandEntry], lang: Lang) -> list[EmbedField]:
    """One field per feature that has commands here, in a reading order; unlisted names appended."""
    by_feature: dict[str, list[str]] = {}
    for entry in commands:
        by_feature.setdefault(entry.feature, []).append(entry.name)
    fields = []
    for feature in SECTION_ORDER:
        names = by_feature.get(feature)
        if not names:
            continue
        body = render(TEXTS, f"help.{feature}.body", lang)
        unlisted = [f"`/{name}`" for name in names if not re.search(rf"/{re.escape(name)}(?![\w-])", body)]
        if unlisted:
            body += "\n" + render(TEXTS, "help_commands", lang, commands=", ".join(unlisted))
        fields.append(EmbedField(render(TEXTS, f"help.{feature}.title", lang), clip_block(body)))
    return fields
