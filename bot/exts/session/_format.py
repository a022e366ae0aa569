"""The session's messages as text cut to Discord's limits (Discord-free).

Members' words and display names are escaped, so "*peony*" or a name full of
underscores shows as typed instead of reformatting the brief.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ...i18n import Lang, render
from ._brief import Brief
from ._text import TEXTS
from ._votes import pick_winner

__all__ = [
    "clip",
    "escape",
    "names_text",
    "thread_name",
    "brief_title",
    "brief_description",
    "tally_text",
    "progress_text",
    "discord_time",
    "TITLE_LIMIT",
    "DESCRIPTION_LIMIT",
    "CONTENT_LIMIT",
]

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
CONTENT_LIMIT = 2000
THREAD_NAME_LIMIT = 100
NAMES_SHOWN = 3
_MARKDOWN = re.compile(r"([\\*_~`|>\[\]])")


def clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def escape(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def names_text(names: Sequence[str], lang: Lang, shown: int = NAMES_SHOWN) -> str:
    if not names:
        return render(TEXTS, "nobody", lang)
    text = ", ".join(escape(name) for name in names[:shown])
    if len(names) > shown:
        text += " " + render(TEXTS, "more_people", lang, count=len(names) - shown)
    return text


def discord_time(epoch_s: float) -> str:
    """A timestamp each member's client shows in their own time zone, relative to now."""
    return f"<t:{int(epoch_s)}:R>"


def thread_name(theme: str, lang: Lang) -> str:
    return clip(render(TEXTS, "thread_name", lang, theme=" ".join(theme.split())), THREAD_NAME_LIMIT)


def brief_title(theme: str, lang: Lang) -> str:
    return clip(render(TEXTS, "brief.title", lang, theme=" ".join(theme.split())), TITLE_LIMIT)


def brief_description(
    brief: Brief, lang: Lang, *, starter: str, style: str, expires_at: float, how: str, finished: bool = False
) -> str:
    """Meta line, one section per category with credited items, then every contributor."""
    head = [render(TEXTS, "brief.meta", lang, starter=escape(starter), style=style, ends=discord_time(expires_at))]
    head.append(render(TEXTS, "brief.finished" if finished else how, lang))
    lines: list[str] = []
    for category, items in brief.by_category().items():
        lines.append(f"\n**{render(TEXTS, f'section.{category}', lang)}**")
        lines += [f"• {escape(item.text)} — {names_text(item.names, lang)}" for item in items]
    if not lines:
        lines.append("\n" + render(TEXTS, "brief.empty", lang))
    people = [f"{escape(name)} ×{count}" for _, name, count in brief.contributors()]
    tail = "\n" + render(TEXTS, "brief.contributors", lang, names=", ".join(people)) if people else ""
    body = "\n".join(head)
    budget = DESCRIPTION_LIMIT - len(body) - len(clip(tail, 600)) - 40
    shown: list[str] = []
    for n, line in enumerate(lines):
        if sum(len(x) + 1 for x in shown) + len(line) + 1 > budget:
            shown.append(render(TEXTS, "brief.more", lang, count=sum(1 for x in lines[n:] if x.startswith("•"))))
            break
        shown.append(line)
    return clip("\n".join([body, *shown]) + ("\n" + clip(tail, 600) if tail else ""), DESCRIPTION_LIMIT)


def tally_text(round_number: int, counts: Sequence[int], lang: Lang, *, closed: bool = False) -> str:
    lines = [render(TEXTS, "tally.title", lang, round=round_number)]
    winner = pick_winner(list(counts)) if closed and counts else None
    for n, votes in enumerate(counts, start=1):
        mark = " 🏆" if n == winner else ""
        lines.append(render(TEXTS, "tally.line", lang, candidate=n, votes=votes) + mark)
    if closed:
        lines.append(render(TEXTS, "tally.closed", lang))
    return clip("\n".join(lines), CONTENT_LIMIT)


def progress_text(
    kind: str,
    round_number: int,
    lang: Lang,
    *,
    position: int | None = None,
    step: int | None = None,
    total: int | None = None,
    eta_s: float | None = None,
    reason: str = "",
) -> str:
    """One line for the round's progress message: queued, started, progress, done, failed or cancelled."""
    if kind == "queued":
        return render(TEXTS, "round.queued", lang, round=round_number, position=max(1, position or 1))
    if kind == "progress" and step is not None and total:
        eta = "" if not eta_s or eta_s <= 0 else render(TEXTS, "round.eta", lang, seconds=max(1, math.ceil(eta_s)))
        filled = round(10 * min(step, total) / total)
        line = render(TEXTS, "round.progress", lang, round=round_number, step=step, total=total, eta=eta)
        return f"{line}\n`{'█' * filled}{'░' * (10 - filled)}`"
    if kind in ("started", "progress"):
        return render(TEXTS, "round.started", lang, round=round_number)
    if kind == "failed":
        return clip(render(TEXTS, "round.failed", lang, round=round_number, reason=reason), CONTENT_LIMIT)
    return render(TEXTS, f"round.{kind}", lang, round=round_number)
