"""What /status reports, gathered and worded without Discord objects.

Everything here is cheap or bounded: the queue is read from memory and the member's
own recent jobs, the index from its manifest (never built or loaded), and backend
health is asked with a time limit, so /status answers even when a backend hangs.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.errors import RagError

from ...i18n import Lang, render
from ..kb._catalog import IndexSummary
from ..kb._format import EmbedField, discord_time
from ._text import TEXTS

if TYPE_CHECKING:
    from imaging.scheduler import GenerationScheduler

__all__ = ["QueueState", "StatusSnapshot", "queue_state", "index_state", "status_fields", "format_uptime", "huayi_version"]

UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class QueueState:
    """Queue totals and the member's own unfinished jobs: a 1-based place in line, or None while drawing."""

    queued: int
    running: int
    mine: list[int | None] = field(default_factory=list)


@dataclass(frozen=True)
class StatusSnapshot:
    queue: QueueState | None
    backends: dict[str, bool] | None
    index: IndexSummary | None
    index_damaged: bool
    uptime_s: float
    version: str


def huayi_version() -> str:
    try:
        return importlib.metadata.version("huayi")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


async def queue_state(scheduler: GenerationScheduler, user_id: int | str) -> QueueState:
    """Totals from the scheduler, and where each of the member's unfinished jobs stands."""
    recent = await scheduler.store.list_by_user(str(user_id), limit=scheduler.limits.max_per_user + 10)
    running = set(scheduler.running)
    mine: list[int | None] = []
    for job in sorted(recent, key=lambda j: j.created_at):
        if job.id in running:
            mine.append(None)
        elif job.status in UNFINISHED and (position := scheduler.position(job.id)) is not None:
            mine.append(position)
    return QueueState(scheduler.queue_length, len(running), mine)


def format_uptime(seconds: float, lang: Lang) -> str:
    """The largest unit and the one below it, if not zero: `2 d 3 h`, `5 min 12 s`, `1 天`."""
    remaining = max(0, int(seconds))
    amounts: list[tuple[str, int]] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, remaining = divmod(remaining, size)
        amounts.append((unit, amount))
    first = next((i for i, (_, amount) in enumerate(amounts) if amount), len(amounts) - 1)
    shown = [(unit, amount) for unit, amount in amounts[first : first + 2] if amount or unit == amounts[first][0]]
    return (" " if lang == "en" else "").join(render(TEXTS, f"uptime.{unit}", lang, n=amount) for unit, amount in shown)


def _queue_lines(queue: QueueState | None, lang: Lang) -> tuple[str, str]:
    if queue is None:
        closed = render(TEXTS, "status_queue_closed", lang)
        return closed, render(TEXTS, "status_mine_none", lang)
    totals = render(TEXTS, "status_queue_value", lang, queued=queue.queued, running=queue.running)
    spots = [
        render(TEXTS, "status_mine_running", lang) if p is None else render(TEXTS, "status_mine_queued", lang, position=p)
        for p in queue.mine
    ]
    return totals, ("\n".join(f"• {s}" for s in spots) or render(TEXTS, "status_mine_none", lang))


def _backend_lines(backends: dict[str, bool] | None, lang: Lang) -> str:
    if not backends:
        return render(TEXTS, "status_backend_unknown", lang)
    lines = []
    for name, ok in backends.items():
        label = render(TEXTS, f"backend.{name}", lang) if f"backend.{name}" in TEXTS else name
        lines.append(render(TEXTS, "status_backend_ok" if ok else "status_backend_down", lang, name=label))
    return "\n".join(lines)


def _index_line(snapshot: StatusSnapshot, lang: Lang) -> str:
    if snapshot.index_damaged:
        return render(TEXTS, "status_index_damaged", lang)
    index = snapshot.index
    if index is None:
        return render(TEXTS, "status_index_missing", lang)
    text = render(TEXTS, "status_index_value", lang, documents=index.documents, chunks=index.chunks)
    if index.built_at:
        text += "\n" + render(TEXTS, "status_index_built", lang, when=discord_time(index.built_at))
    return text


def status_fields(snapshot: StatusSnapshot, lang: Lang) -> list[EmbedField]:
    totals, mine = _queue_lines(snapshot.queue, lang)
    return [
        EmbedField(render(TEXTS, "status_queue", lang), totals, True),
        EmbedField(render(TEXTS, "status_mine", lang), mine, True),
        EmbedField(render(TEXTS, "status_backends", lang), _backend_lines(snapshot.backends, lang), False),
        EmbedField(render(TEXTS, "status_index", lang), _index_line(snapshot, lang), False),
        EmbedField(render(TEXTS, "status_uptime", lang), format_uptime(snapshot.uptime_s, lang), True),
        EmbedField(render(TEXTS, "status_version", lang), f"`{snapshot.version}`", True),
    ]


def index_state(value: IndexSummary | None | RagError) -> tuple[IndexSummary | None, bool]:
    """(summary, damaged) from `safe_index_summary`'s result."""
    if isinstance(value, RagError):
        return None, True
    return value, False
