"""Progress lines and the edit throttle (Discord-free).

Discord rate-limits message edits; one edit every two seconds keeps a dozen concurrent
jobs well inside the limits while still feeling live.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ...i18n import Lang, render
from ._text import TEXTS

__all__ = ["EditThrottle", "queued_line", "progress_line"]


@dataclass
class EditThrottle:
    interval_s: float = 2.0
    clock: Callable[[], float] = time.monotonic
    _last: float | None = field(default=None, init=False)

    def due(self) -> bool:
        """True (and the slot taken) when an edit may go out now."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        return True


def queued_line(position: int | None, lang: Lang) -> str:
    if position is None or position <= 1:
        return render(TEXTS, "queued_next", lang)
    return render(TEXTS, "queued", lang, position=position)


def progress_line(step: int, total: int, eta_s: float | None, lang: Lang) -> str:
    eta = "" if eta_s is None or eta_s <= 0 else render(TEXTS, "eta", lang, seconds=max(1, math.ceil(eta_s)))
    filled = 0 if total <= 0 else round(10 * min(step, total) / total)
    return f"{render(TEXTS, 'progress', lang, step=step, total=total, eta=eta)}\n`{'█' * filled}{'░' * (10 - filled)}`"
